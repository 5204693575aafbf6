"""Recovery: claimed work left behind by a process that exited, was pruned or vanished.

The crash is recorded as an error of that attempt (``ProcessExitError``, ``ProcessPrunedError``
or ``ProcessMissingError``); what happens next follows the job's delivery guarantee
(``completion.rescue``): run again under ``at_least_once`` until the crash limit, FAILED under
``at_most_once``. Under ``at_most_once`` a job that never started (no start mark on its claim)
goes back to ready uncounted; ``at_least_once`` writes no start mark, so each rescue counts a crash.
"""

from __future__ import annotations

import logging
from typing import Callable

from dj_queue.exceptions import OutcomeLostError, ProcessExitError, ProcessMissingError, ProcessPrunedError
from dj_queue.logs import job_fields
from dj_queue.models import ClaimedExecution, Job, Process
from dj_queue.operations import processes
from dj_queue.operations.claim import release
from dj_queue.operations.completion import READY, rescue
from dj_queue.plugins import get_dialect
from dj_queue.policies import policy_for_job

logger = logging.getLogger("dj_queue.recovery")


def rescue_claims(process_id: int | None, error: BaseException, *, using: str,
                  backend_alias: str | None = None) -> int:
    """Rescue every job claimed by ``process_id``; return how many claims were handled."""
    claims = ClaimedExecution.objects.using(using).filter(process_id=process_id)
    if backend_alias is not None:
        claims = claims.filter(backend_alias=backend_alias)
    job_ids = list(claims.values_list("job_id", flat=True))
    return _rescue(Job.objects.using(using).filter(pk__in=job_ids).order_by("pk"),
                   lambda job: (process_id, error), using=using)


def _rescue(jobs, cause, *, using: str) -> int:
    """Rescue ``jobs``; ``cause(job)`` gives the claim's process id and the error to record."""
    handled = 0
    for job in jobs:
        process_id, error = cause(job)
        outcome = rescue(job, error, process_id=process_id, using=using, policy=policy_for_job(job))
        if outcome is not None:
            handled += 1
            logger.warning("dj_queue: job %s (%s) %s: %s", job.pk, job.task_path,
                           "goes back to ready" if outcome == READY else "failed", error, extra=job_fields(job))
    return handled


def process_exited(process: Process, *, using: str, reason: str = "") -> int:
    """A supervised process exited unexpectedly: rescue its claims and delete its row."""
    detail = f" ({reason})" if reason else ""
    error = ProcessExitError(f"{process.kind} {process.name} (pid {process.pid}) exited unexpectedly{detail}")
    return _rescue_and_forget(process, error, using=using)


def _rescue_and_forget(process: Process, error: BaseException, *, using: str) -> int:
    """Rescue the process's claims and delete its row in one transaction: nobody sees one without the other."""
    with get_dialect(using).write_transaction(using):
        failed = rescue_claims(process.pk, error, using=using)
        Process.objects.using(using).filter(pk=process.pk).delete()
    return failed


def prune(*, backend_alias: str, using: str, threshold: float, exclude_id: int | None = None) -> list[Process]:
    """Rescue the claims of processes whose heartbeat expired and delete their rows.

    Returns the pruned processes. ``exclude_id`` spares the caller's own row.
    """
    pruned = processes.expired(backend_alias=backend_alias, using=using, threshold=threshold,
                               exclude_id=exclude_id)
    for process in pruned:
        error = ProcessPrunedError(
            f"{process.kind} {process.name} (pid {process.pid} on {process.hostname}) stopped "
            f"heartbeating for more than {threshold:g}s and was pruned"
        )
        count = _rescue_and_forget(process, error, using=using)
        logger.warning("dj_queue: pruned %s; %d claimed job(s) rescued", process, count)
    return pruned


def fail_orphaned_claims(*, backend_alias: str, using: str) -> int:
    """Rescue claims whose process row no longer exists (``ProcessMissingError``)."""
    live = Process.objects.using(using).values("pk")
    orphans = ClaimedExecution.objects.using(using).filter(backend_alias=backend_alias)
    rows = list(orphans.exclude(process_id__in=live).values_list("job_id", "process_id"))
    rows += list(orphans.filter(process_id__isnull=True).values_list("job_id", "process_id"))
    if not rows:
        return 0
    holders = dict(rows)

    def cause(job: Job) -> tuple[int | None, BaseException]:
        process_id = holders[job.pk]
        return process_id, ProcessMissingError(
            f"job {job.pk} was claimed by process {process_id}, which no longer exists")

    jobs = Job.objects.using(using).filter(pk__in=list(holders)).order_by("pk")
    handled = _rescue(jobs, cause, using=using)
    if handled:
        logger.warning("dj_queue: %d claimed job(s) without a process rescued", handled)
    return handled


def release_strays(*, process_id: int | None, using: str, held: Callable[[int], bool]) -> int:
    """This live process's claims on jobs it does not ``held``: back to ready; return how many.

    For a worker whose turn failed: the turn may have committed a claim and lost only its reply,
    so those jobs never reached a thread (or, with ``synchronous_turns`` off, a server crash kept
    a claim and lost the outcome recorded after it). A claim without a start mark goes back to
    ready; one with a start mark (an ``at_most_once`` job that began) is rescued as a crash
    (``OutcomeLostError``): FAILED, never run twice. Call it between turns, from the claiming thread.
    """
    claimed = ClaimedExecution.objects.using(using).filter(process_id=process_id)
    strays = [(job_id, started) for job_id, started in claimed.values_list("job_id", "started_at")
              if not held(job_id)]
    count = release(job_ids=[job_id for job_id, started in strays if started is None], process_id=process_id,
                    using=using)
    began = [job_id for job_id, started in strays if started is not None]
    if began:
        error = OutcomeLostError(f"process {process_id} lost the outcome of this attempt in a failed turn")
        jobs = Job.objects.using(using).filter(pk__in=began).order_by("pk")
        count += _rescue(jobs, lambda job: (process_id, error), using=using)
    return count


def maintain(*, backend_alias: str, using: str, threshold: float, exclude_id: int | None = None) -> None:
    """One maintenance tick: prune expired processes, then rescue orphaned claims."""
    prune(backend_alias=backend_alias, using=using, threshold=threshold, exclude_id=exclude_id)
    fail_orphaned_claims(backend_alias=backend_alias, using=using)
