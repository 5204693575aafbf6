"""The worker: claims ready jobs in batches no larger than its idle threads and runs them.

Each turn of its loop records the outcomes its threads produced and claims the next batch in one
transaction. A full batch means more work is probably waiting, so it turns again at once;
otherwise it waits on its waker for ``polling_interval`` (an enqueue in this process, a finished
job or ``stop()`` wakes it early).

Recycling: past ``max_jobs_per_process`` jobs claimed, or ``max_memory_mb`` of resident memory
(read after it has served a job), the worker claims nothing more, lets its running jobs finish,
records their outcomes and stops with ``recycle_requested`` set, so the supervisor replaces it at
once (a new process in fork mode, a new thread in async mode).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from typing import Any

from dj_queue import plugins, running
from dj_queue.compat import task_backends
from dj_queue.exceptions import ProcessExitError
from dj_queue.models import Job
from dj_queue.operations.claim import finish_and_claim, release
from dj_queue.operations.completion import fail, finish_many
from dj_queue.operations.execute import execute
from dj_queue.operations.recovery import release_strays
from dj_queue.ratelimits import LocalRateLimit
from dj_queue.runtime.base import Actor
from dj_queue.runtime.completions import Completions
from dj_queue.runtime.polling import ERROR_BACKOFF
from dj_queue.runtime.pool import ThreadPool
from dj_queue.runtime.watchdog import Watchdog

logger = logging.getLogger("dj_queue.runtime")

# When some threads are still busy, wait this long for more to finish so one claim serves them
# all: short jobs then share commits instead of taking one claim each.
COALESCE_SECONDS = 0.002
# Reading this process's memory is cheap, but a worker turning hundreds of times a second has no
# need to read it on every turn.
MEMORY_CHECK_SECONDS = 0.5


def current_rss_mb() -> float:
    """This process's resident memory now, in MiB (VmRSS; the peak where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB elsewhere


class Worker(Actor):
    kind = "worker"

    def __init__(self, *, queues: list[str], threads: int = 3, polling_interval: float = 0.1,
                 max_jobs_per_process: int | None = None, max_memory_mb: float | None = None,
                 rate_limit: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queues = list(queues)
        self.threads = max(1, int(threads))
        self.polling_interval = float(polling_interval)
        # A failed turn leaves outcomes to record, so the loop would turn again at once without it.
        self.poller.backoff = max(self.polling_interval, ERROR_BACKOFF)
        self.max_jobs_per_process = max_jobs_per_process
        self.max_memory_mb = max_memory_mb
        # The worker-level limit ("JOBS/SECONDS"), kept in memory: see dj_queue.ratelimits.
        self.rate_limiter = LocalRateLimit.from_option(rate_limit)
        self.jobs_served = 0
        # Why this worker stopped claiming to be replaced, once a limit is reached.
        self.recycle_reason: str | None = None
        self._memory_checked_at = 0.0
        self.pool: ThreadPool | None = None
        self.completions: Completions | None = None
        # Outcomes the last turn recorded, announced once its claimed jobs are handed out.
        self._recorded: tuple[list, list] | None = None
        self.waker: Any = None
        self.watchdog: Watchdog | None = None
        # A turn failed: it may have committed a claim whose jobs never reached this worker.
        self._claims_unsure = False
        # Set when a job's thread had to be abandoned: in fork mode this process is then replaced.
        self.recycle_requested = False
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
        # Before the waker, which may fail (a notify database that does not exist): drain needs it,
        # and an error there would hide the real one.
        self.completions = Completions(backend=self.backend)
        self.waker = self._make_waker()
        self.watchdog = Watchdog(self)
        self.watchdog.start()
        while not self.stopping:
            if 0 < self.pool.idle < self.threads:
                self.pool.wait_for_idle(COALESCE_SECONDS, count=self.threads)
            idle = self._claimable(self.pool.idle)
            jobs = self._turn(idle) if idle or len(self.completions) else []
            if self.rate_limiter is not None:
                self.rate_limiter.record(len(jobs))
            self.jobs_served += len(jobs)
            for job in jobs:
                self.pool.submit(job.pk, lambda job=job: self._execute(job))
            self._announce()  # after the hand-off: the new jobs need not wait for these signals
            if len(jobs) < idle or idle == 0:
                if self._recycle_due():
                    self.request_recycle(self.recycle_reason)
                elif not self.stopping and not len(self.completions):
                    self.waker.wait(self.polling_interval)

    def wake(self) -> None:
        if self.waker is not None:
            self.waker.notify()

    def request_recycle(self, reason: str | None = None) -> None:
        """Stop gracefully so the supervisor replaces this worker (a thread is stuck in a job, or a
        recycling limit was reached)."""
        if reason:
            logger.info("dj_queue: %s recycling: %s", self.name, reason)
        self.recycle_requested = True
        self.stop()

    def _claimable(self, idle: int) -> int:
        """How many jobs this turn may claim: the idle threads, within the recycling limits."""
        if self.recycle_reason is None:
            self.recycle_reason = self._limit_reached()
        if self.recycle_reason is not None:
            return 0
        if self.max_jobs_per_process is not None:
            idle = min(idle, self.max_jobs_per_process - self.jobs_served)
        if self.rate_limiter is not None:
            idle = self.rate_limiter.allowance(idle)
        return idle

    def _limit_reached(self) -> str | None:
        if self.max_jobs_per_process is not None and self.jobs_served >= self.max_jobs_per_process:
            return f"served {self.jobs_served} job(s) (max_jobs_per_process {self.max_jobs_per_process})"
        # Only after a job: a worker over the limit from the start would otherwise never work.
        if self.max_memory_mb is None or not self.jobs_served:
            return None
        now = time.monotonic()
        if now - self._memory_checked_at < MEMORY_CHECK_SECONDS:
            return None
        self._memory_checked_at = now
        rss = current_rss_mb()
        if rss > self.max_memory_mb:
            return f"resident memory {rss:.0f} MiB is over max_memory_mb {self.max_memory_mb:g}"
        return None

    def _recycle_due(self) -> bool:
        """A limit was reached and every claimed job has finished and been recorded."""
        return (self.recycle_reason is not None and self.pool.idle == self.threads
                and not len(self.completions))

    def _make_waker(self) -> Any:
        # The worker itself, not the backend: the waker then follows this runtime's own options
        # (YAML / CLI listen_notify, database_alias) and reports errors to its on_thread_error.
        waker = plugins.get_waker(self)
        if hasattr(waker, "selectors"):
            waker.selectors = self.queues
        return waker

    def _turn(self, limit: int) -> list[Job]:
        """Record pending outcomes and claim up to ``limit`` jobs, in one transaction."""
        if self._claims_unsure and not self._release_strays():
            return []
        batch = self.completions.take()
        turned = self.poller.attempt(
            "recording finished jobs and claiming ready ones", finish_and_claim,
            outcomes=Completions.outcomes(batch), backend_alias=self.backend_alias, using=self.using,
            selectors=self.queues, limit=limit, process_id=self.process_id, worker_id=self.name,
            process=self.view(),
        )
        if turned is None:  # reported and backed off: the outcomes are recorded by a later turn
            self.completions.put_back(batch)
            self._claims_unsure = True
            return []
        finished, jobs = turned
        self._recorded = (batch, finished)
        return jobs

    def _release_strays(self) -> bool:
        """After a failed turn, put back to ready the jobs this process holds claims on but never
        received: the turn may have committed and lost only its reply (the connection dropped
        during the commit), and nothing else frees the claims of a live process. True once done."""
        held = set(self.pool.in_flight()) | self.completions.job_ids()
        released = self.poller.attempt(
            "releasing the claims of a failed turn", release_strays, process_id=self.process_id,
            using=self.using, held=lambda job_id: job_id in held or running.get(job_id) is not None)
        if released is None:
            return False
        self._claims_unsure = False
        if released:
            logger.warning("dj_queue: %s put %d claimed job(s) it never received back to ready (a turn "
                           "failed after its commit)", self.name, released)
        return True

    def _announce(self) -> None:
        """Send ``task_finished`` for the outcomes the last turn recorded."""
        if self._recorded is not None:
            batch, finished = self._recorded
            self._recorded = None
            self.completions.announce(batch, finished)

    def _execute(self, job: Job) -> None:
        try:
            execute(job, backend=self.backend, process_id=self.process_id, using=self.using,
                    task_modules=self.options.get("task_modules"), completions=self.completions)
        finally:
            self.waker.notify()  # a thread is free and maybe an outcome waits: the loop turns

    def drain(self) -> None:
        """Wait up to ``shutdown_timeout`` for running jobs, record their outcomes, hand the rest back."""
        if self.pool is not None:
            remaining = self.pool.shutdown(float(self.options["shutdown_timeout"]))
            if self.watchdog is not None:
                self.watchdog.stop()
            if self.completions is not None:  # None: the loop failed before running anything
                self._announce()
                self._flush()
            if remaining:
                self._release(remaining)
        if self.waker is not None:
            self.waker.close()

    def _flush(self) -> None:
        """Record every pending outcome before the process deregisters (which frees its claims)."""
        for attempt in range(3):
            batch = self.completions.take()
            if not batch:
                return
            finished = self.poller.attempt("recording finished jobs at shutdown", finish_many,
                                           Completions.outcomes(batch), process_id=self.process_id, using=self.using)
            if finished is not None:
                self.completions.announce(batch, finished)
            else:  # the loop has stopped, so the poller does not back off: these pauses do
                self.completions.put_back(batch)
                time.sleep(0.5 * (attempt + 1))
        if len(self.completions):
            logger.error("dj_queue: %s could not record %d finished job(s) at shutdown; recovery will "
                         "mark them failed", self.name, len(self.completions))

    def _release(self, job_ids: list[int]) -> None:
        """Hand jobs still running at the shutdown deadline back to ready.

        Under ``at_most_once`` a started job may not run twice: it ends FAILED instead.
        """
        once = [a for a in map(running.get, job_ids)
                if a is not None and a.policy is not None and a.policy.delivery == "at_most_once"
                and a.policy.exactly_once is None]
        try:
            for attempt in once:
                fail(attempt.job, ProcessExitError(
                    f"{self.name} stopped before job {attempt.job.pk} finished (shutdown_timeout "
                    f"{self.options['shutdown_timeout']}s); at most once: not run again"),
                    process_id=self.process_id, using=self.using, traceback_text="", worker_id=self.name)
            rest = [job_id for job_id in job_ids if job_id not in {a.job.pk for a in once}]
            count = release(job_ids=rest, process_id=self.process_id, using=self.using)
            logger.warning("dj_queue: %s released %d unfinished job(s) at shutdown%s", self.name, count,
                           f", failed {len(once)} at-most-once job(s)" if once else "")
        except Exception as exc:
            self.on_error(exc)
