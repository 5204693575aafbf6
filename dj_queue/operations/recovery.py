"""Recovery: claimed work left behind by a process that exited, was pruned or vanished.

Such jobs are never silently re-run: they become failed jobs an operator can inspect and retry,
with ``ProcessExitError``, ``ProcessPrunedError`` or ``ProcessMissingError``.
"""

from __future__ import annotations

import logging

from dj_queue.exceptions import ProcessExitError, ProcessMissingError, ProcessPrunedError
from dj_queue.models import ClaimedExecution, Job, Process
from dj_queue.operations import processes

logger = logging.getLogger("dj_queue.recovery")


def fail_claims(process_id: int | None, error: BaseException, *, using: str,
                backend_alias: str | None = None) -> int:
    """Fail every job claimed by ``process_id`` with ``error``; return how many failed."""
    from dj_queue.operations.completion import fail

    claims = ClaimedExecution.objects.using(using).filter(process_id=process_id)
    if backend_alias is not None:
        claims = claims.filter(backend_alias=backend_alias)
    job_ids = list(claims.values_list("job_id", flat=True))
    failed = 0
    for job in Job.objects.using(using).filter(pk__in=job_ids).order_by("pk"):
        # require_claim: a claim another recoverer already handled is left alone.
        if fail(job, error, process_id=process_id, using=using, traceback_text=""):
            failed += 1
    return failed


def process_exited(process: Process, *, using: str, reason: str = "") -> int:
    """A supervised process exited unexpectedly: fail its claims and delete its row."""
    detail = f" ({reason})" if reason else ""
    error = ProcessExitError(f"{process.kind} {process.name} (pid {process.pid}) exited unexpectedly{detail}")
    return _fail_and_forget(process, error, using=using)


def _fail_and_forget(process: Process, error: BaseException, *, using: str) -> int:
    """Fail the process's claims and delete its row in one transaction: nobody sees one without the other."""
    from dj_queue.plugins import get_dialect

    with get_dialect(using).write_transaction(using):
        failed = fail_claims(process.pk, error, using=using)
        Process.objects.using(using).filter(pk=process.pk).delete()
    return failed


def prune(*, backend_alias: str, using: str, threshold: float, exclude_id: int | None = None) -> list[Process]:
    """Fail the claims of processes whose heartbeat expired and delete their rows.

    Returns the pruned processes. ``exclude_id`` spares the caller's own row.
    """
    pruned = processes.expired(backend_alias=backend_alias, using=using, threshold=threshold,
                               exclude_id=exclude_id)
    for process in pruned:
        error = ProcessPrunedError(
            f"{process.kind} {process.name} (pid {process.pid} on {process.hostname}) stopped "
            f"heartbeating for more than {threshold:g}s and was pruned"
        )
        count = _fail_and_forget(process, error, using=using)
        logger.warning("dj_queue: pruned %s; %d claimed job(s) failed", process, count)
    return pruned


def fail_orphaned_claims(*, backend_alias: str, using: str) -> int:
    """Fail claims whose process row no longer exists (``ProcessMissingError``)."""
    from dj_queue.operations.completion import fail

    live = Process.objects.using(using).values("pk")
    orphans = list(
        ClaimedExecution.objects.using(using).filter(backend_alias=backend_alias)
        .exclude(process_id__in=live).values_list("job_id", "process_id")
    )
    orphans += list(
        ClaimedExecution.objects.using(using).filter(backend_alias=backend_alias, process_id__isnull=True)
        .values_list("job_id", "process_id")
    )
    failed = 0
    jobs = Job.objects.using(using).in_bulk([job_id for job_id, _ in orphans])
    for job_id, process_id in orphans:
        error = ProcessMissingError(f"job {job_id} was claimed by process {process_id}, which no longer exists")
        if job_id in jobs and fail(jobs[job_id], error, process_id=process_id, using=using, traceback_text=""):
            failed += 1
    if failed:
        logger.warning("dj_queue: %d claimed job(s) without a process failed", failed)
    return failed


def maintain(*, backend_alias: str, using: str, threshold: float, exclude_id: int | None = None) -> None:
    """One maintenance tick: prune expired processes, then fail orphaned claims."""
    prune(backend_alias=backend_alias, using=using, threshold=threshold, exclude_id=exclude_id)
    fail_orphaned_claims(backend_alias=backend_alias, using=using)
