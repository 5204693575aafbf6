"""The worker: claims ready jobs in batches no larger than its idle threads and runs them.

A full batch means more work is probably waiting, so it claims again at once; otherwise it waits
on its waker for ``polling_interval`` (an enqueue in this process wakes it early).
"""

from __future__ import annotations

import logging
from typing import Any

from dj_queue import plugins
from dj_queue.compat import task_backends
from dj_queue.models import Job
from dj_queue.runtime.base import Actor, check_connections
from dj_queue.runtime.completions import Completions
from dj_queue.runtime.pool import ThreadPool

logger = logging.getLogger("dj_queue.runtime")


class Worker(Actor):
    kind = "worker"

    def __init__(self, *, queues: list[str], threads: int = 3, polling_interval: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queues = list(queues)
        self.threads = max(1, int(threads))
        self.polling_interval = float(polling_interval)
        self.pool: ThreadPool | None = None
        self.completions: Completions | None = None
        self.waker: Any = None
        self._backend: Any = None

    def metadata(self) -> dict[str, Any]:
        return {"queues": self.queues, "threads": self.threads, "polling_interval": self.polling_interval}

    @property
    def backend(self) -> Any:
        if self._backend is None:
            self._backend = task_backends[self.backend_alias]
        return self._backend

    def loop(self) -> None:
        self.pool = ThreadPool(self.threads, name=f"dj_queue-worker-{self.pid}", on_error=self.on_error)
        self.completions = Completions(process_id=self.process_id, using=self.using, backend=self.backend,
                                       on_error=self.on_error)
        self.waker = self._make_waker()
        while not self.stopping:
            idle = self.pool.idle
            if idle == 0:
                self.pool.wait_for_idle(self.polling_interval)
                continue
            jobs = self._claim(idle)
            for job in jobs:
                self.pool.submit(job.pk, lambda job=job: self._execute(job))
            if len(jobs) < idle and not self.stopping:
                self.waker.wait(self.polling_interval)

    def wake(self) -> None:
        if self.waker is not None:
            self.waker.notify()

    def _make_waker(self) -> Any:
        waker = plugins.get_waker(self.backend)
        if hasattr(waker, "selectors"):
            waker.selectors = self.queues
        return waker

    def _claim(self, limit: int) -> list[Job]:
        from dj_queue.operations.claim import claim

        try:
            return claim(backend_alias=self.backend_alias, using=self.using, selectors=self.queues,
                         limit=limit, process_id=self.process_id, worker_id=self.name, process=self)
        except Exception as exc:
            self.on_error(exc)
            check_connections()
            # An unreachable database would otherwise be hammered in a tight loop.
            self._stopping.wait(max(self.polling_interval, 1.0))
            return []

    def _execute(self, job: Job) -> None:
        from dj_queue.operations.execute import execute

        execute(job, backend=self.backend, process_id=self.process_id, using=self.using,
                task_modules=self.options.get("task_modules"), completions=self.completions)

    def drain(self) -> None:
        """Wait up to ``shutdown_timeout`` for running jobs, then hand the rest back to ready."""
        if self.pool is not None:
            remaining = self.pool.shutdown(float(self.options["shutdown_timeout"]))
            # Outcomes still pending must be recorded before the claims are released or the
            # process deregisters (which hands back every claim it still holds).
            self.completions.close()
            if remaining:
                self._release(remaining)
        if self.waker is not None:
            self.waker.close()

    def _release(self, job_ids: list[int]) -> None:
        from dj_queue.operations.claim import release

        try:
            count = release(job_ids=job_ids, process_id=self.process_id, using=self.using)
            logger.warning("dj_queue: %s released %d unfinished job(s) at shutdown", self.name, count)
        except Exception as exc:
            self.on_error(exc)
