"""The dispatcher: promotes due scheduled jobs to ready, one batch at a time.

A full batch means more are due, so it dispatches again at once; otherwise it sleeps for
``polling_interval``. Every ``concurrency_maintenance_interval`` it also expires stale semaphores
and releases blocked jobs whose block outlived the task's concurrency duration.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dj_queue.operations import concurrency, unique
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.runtime.base import Actor, check_connections

logger = logging.getLogger("dj_queue.runtime")


class Dispatcher(Actor):
    kind = "dispatcher"

    def __init__(self, *, batch_size: int = 500, polling_interval: float = 1,
                 concurrency_maintenance: bool = True, concurrency_maintenance_interval: float = 600,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_size = max(1, int(batch_size))
        self.polling_interval = float(polling_interval)
        self.concurrency_maintenance = concurrency_maintenance
        self.concurrency_maintenance_interval = float(concurrency_maintenance_interval)
        self._sleep = threading.Event()
        self._next_maintenance = 0.0  # first pass right after start-up

    def metadata(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "polling_interval": self.polling_interval}

    def loop(self) -> None:
        while not self.stopping:
            promoted = self.dispatch()
            self.maintain()
            if promoted < self.batch_size and not self.stopping:
                self._sleep.wait(self.polling_interval)
                self._sleep.clear()

    def dispatch(self) -> int:
        """Promote one batch of due jobs; infrastructure errors are reported, not raised."""
        try:
            return dispatch_due(backend_alias=self.backend_alias, using=self.using, batch_size=self.batch_size)
        except Exception as exc:
            self.on_error(exc)
            check_connections()
            return 0

    def maintain(self) -> None:
        """Expire stale semaphores and release expired blocked jobs, every maintenance interval."""
        if not self.concurrency_maintenance:
            return
        now = time.monotonic()
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + self.concurrency_maintenance_interval
        try:
            expired = concurrency.expire_semaphores(backend_alias=self.backend_alias, using=self.using)
            released = concurrency.release_expired_blocked(
                backend_alias=self.backend_alias, using=self.using, batch_size=self.batch_size
            )
            unique.prune_reservations(backend_alias=self.backend_alias, using=self.using, batch_size=self.batch_size)
        except Exception as exc:
            self.on_error(exc)
            check_connections()
            return
        if expired or released:
            logger.info("dj_queue: concurrency maintenance expired %d semaphore(s), released %d blocked job(s)",
                        expired, released)

    def wake(self) -> None:
        self._sleep.set()
