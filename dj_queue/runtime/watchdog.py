"""A worker's watchdog: enforces job deadlines and cancellation requests on its running jobs.

Every ``TICK`` seconds it looks at the attempts the worker's pool is running:
- past its deadline, an attempt is interrupted with ``JobTimeoutError`` (see ``dj_queue.running``);
- every ``CANCEL_POLL`` seconds it reads which running jobs ``cancel()`` asked to stop: a coroutine
  task is cancelled at once, a sync task is told (``cancel_requested``) and interrupted after
  ``timeout_grace`` seconds if it has not returned;
- an attempt still running ``timeout_grace`` seconds after its interruption ignored it (a blocking
  call): its failure is recorded, its thread is retired and replaced so the slot frees, and in
  fork mode the worker asks to be replaced (``recycle_requested``): its other jobs finish or are
  handed back, and the supervisor starts a fresh process at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dj_queue import running
from dj_queue.exceptions import JobCancelledError, JobTimeoutError
from dj_queue.logs import job_fields
from dj_queue.models import Job
from dj_queue.operations.completion import fail
from dj_queue.runtime.base import close_connections, quiet_queries
from dj_queue.runtime.polling import Poller

logger = logging.getLogger("dj_queue.runtime")

TICK, CANCEL_POLL = 0.1, 1.0


class Watchdog:
    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.grace = float(worker.options.get("timeout_grace", 5))
        self._stop = threading.Event()
        # No back-off after a failed tick: the next one is TICK away and deadlines cannot wait.
        self._poller = Poller(report=worker.report, stopping=self._stop, backoff=0)
        self._next_poll = 0.0
        self._thread = threading.Thread(target=self._main, name="dj_queue-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _main(self) -> None:
        try:
            with quiet_queries(self.worker.silence_polling):
                while not self._stop.wait(TICK):
                    self._poller.attempt("watching job deadlines and cancel requests", self.tick, time.monotonic())
        finally:
            close_connections()

    def tick(self, now: float) -> None:
        attempts = [a for a in map(running.get, self.worker.pool.in_flight()) if a is not None]
        if attempts and now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL
            self._read_cancel_requests(attempts, now)
        for attempt in attempts:
            self._enforce(attempt, now)

    def _read_cancel_requests(self, attempts: list[running.Attempt], now: float) -> None:
        waiting = {a.job.pk: a for a in attempts if not a.cancel_requested}
        if not waiting:
            return
        asked = Job.objects.using(self.worker.using).filter(pk__in=list(waiting), cancel_requested_at__isnull=False)
        for job_id in asked.values_list("pk", flat=True):
            attempt = waiting[job_id]
            attempt.cancel_requested, attempt.cancel_seen_at = True, now
            logger.info("dj_queue: job %s (%s) was asked to cancel", job_id, attempt.job.task_path,
                        extra=job_fields(attempt.job))

    def _enforce(self, attempt: running.Attempt, now: float) -> None:
        if attempt.interrupted is None:
            if attempt.deadline is not None and now >= attempt.deadline:
                if attempt.interrupt(running.TIMEOUT):
                    logger.warning("dj_queue: job %s (%s) ran past its timeout of %gs; interrupting it",
                                   attempt.job.pk, attempt.job.task_path, attempt.timeout,
                                   extra=job_fields(attempt.job))
            elif attempt.cancel_requested and (attempt.is_coroutine or now >= attempt.cancel_seen_at + self.grace):
                attempt.interrupt(running.CANCEL)
        elif now >= attempt.interrupted_at + self.grace:
            self._abandon(attempt)

    def _abandon(self, attempt: running.Attempt) -> None:
        """The attempt ignored its interruption: record the outcome and free its slot."""
        job, worker = attempt.job, self.worker
        if not worker.pool.abandon(job.pk):
            return  # it ended meanwhile
        running.end(attempt)
        timed_out = attempt.interrupted == running.TIMEOUT
        error = attempt.translate(JobTimeoutError() if timed_out else JobCancelledError())
        policy = attempt.policy if timed_out else None
        fail(job, error, process_id=worker.process_id, using=worker.using, traceback_text="", policy=policy,
             worker_id=worker.name)
        logger.error("dj_queue: job %s (%s) ignored its %s for %gs; its thread was retired%s", job.pk,
                     job.task_path, "timeout" if timed_out else "cancellation", self.grace,
                     "; replacing this worker process" if worker.options.get("mode") == "fork" else "",
                     extra=job_fields(job))
        if worker.options.get("mode") == "fork":
            worker.request_recycle()
