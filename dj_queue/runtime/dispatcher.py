"""The dispatcher: promotes due scheduled jobs to ready, one batch at a time.

A full batch means more are due, so it dispatches again at once; otherwise it sleeps for
``polling_interval``. Concurrency maintenance (expiring semaphores, releasing blocked jobs) joins
this loop with the concurrency-controls feature: ``maintain()`` is its seam.
"""

from __future__ import annotations

import threading
from typing import Any

from dj_queue.runtime.base import Actor, check_connections


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
        from dj_queue.operations.dispatch import dispatch_due

        try:
            return dispatch_due(backend_alias=self.backend_alias, using=self.using, batch_size=self.batch_size)
        except Exception as exc:
            self.on_error(exc)
            check_connections()
            return 0

    def maintain(self) -> None:
        """Concurrency maintenance hook point (arrives with concurrency controls)."""

    def wake(self) -> None:
        self._sleep.set()
