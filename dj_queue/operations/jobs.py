"""Operator actions on single jobs: retry or discard failed jobs, cancel or discard waiting jobs,
run a scheduled job now, change a waiting job's priority.

A retried job keeps its id, arguments and error history; its next attempt appends to
``worker_ids``. Cancelling keeps the job's record (FAILED with ``JobCancelledError``); discarding
deletes the job with its execution row. Running (claimed) jobs cannot be discarded.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from dj_queue import plugins

from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.exceptions import JobCancelledError, NotCancellableError, UndiscardableError
from dj_queue.models.jobs import PRIORITY_MAX, PRIORITY_MIN
from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    ReadyExecution,
    ScheduledExecution,
)
from dj_queue.config import database_for
from dj_queue.operations.completion import fail_unclaimed
from dj_queue.operations.events import announce_ready, notify_after_commit
from dj_queue import wakeup
from dj_queue.operations.concurrency import place, release, settings_for_job
from dj_queue.operations import workflows

BATCH = 500


def _using(backend_alias: str | None, using: str | None) -> str:
    if using:
        return using
    return database_for(backend_alias or "default")


def retry_failed_jobs(job_ids: Iterable[int], *, using: str) -> int:
    """Move failed jobs back to ready, keeping their ids. Returns how many were retried."""
    ids = [int(i) for i in job_ids]
    with plugins.get_dialect(using).write_transaction(using):
        failed = list(
            FailedExecution.objects.using(using).select_for_update().filter(job_id__in=ids)
            .select_related("job")
        )
        FailedExecution.objects.using(using).filter(pk__in=[f.pk for f in failed]).delete()
        Job.objects.using(using).filter(pk__in=[f.job_id for f in failed]).update(finished_at=None)
        plain = [f.job for f in failed if not f.job.concurrency_key]
        ReadyExecution.objects.using(using).bulk_create([
            ReadyExecution(job=job, queue_name=job.queue_name, priority=job.priority,
                           backend_alias=job.backend_alias, created_at=timezone.now())
            for job in plain
        ])
        ready = list(plain)
        for f in failed:  # a job with a concurrency key takes a slot again, or waits for one
            if f.job.concurrency_key and place(f.job, settings_for_job(f.job), using=using) == "ready":
                ready.append(f.job)
        _announce(ready, using)
    _notify([f.job for f in failed])
    return len(failed)


def _announce(jobs: list[Job], using: str) -> None:
    """Tell ``dj_queue_jobs_ready`` plugins, inside the retry transaction, which queues got jobs."""
    for alias in sorted({j.backend_alias for j in jobs}):
        announce_ready(alias, using, {j.queue_name for j in jobs if j.backend_alias == alias})


def _notify(jobs: list[Job]) -> None:
    if not jobs:
        return
    for alias in {j.backend_alias for j in jobs}:
        wakeup.notify_enqueued(alias, sorted({j.queue_name for j in jobs if j.backend_alias == alias}))


def retry_failed_job(job_id: int, *, backend_alias: str | None = None, using: str | None = None) -> bool:
    """Retry one failed job. Returns False when the job is not failed (or does not exist)."""
    return retry_failed_jobs([job_id], using=_using(backend_alias, using)) == 1


def discard_failed_job(job_id: int, *, backend_alias: str | None = None, using: str | None = None) -> bool:
    """Delete one failed job. Returns False when the job is not failed (or does not exist)."""
    using = _using(backend_alias, using)
    with plugins.get_dialect(using).write_transaction(using):
        if not FailedExecution.objects.using(using).filter(job_id=job_id).exists():
            return False
        Job.objects.using(using).filter(pk=job_id).delete()
    return True


def discard_jobs(job_ids: Iterable[int], *, using: str) -> int:
    """Delete jobs that are not running; raise ``UndiscardableError`` if any is claimed.

    Ready jobs give their concurrency slots to the next blocked jobs of their keys."""
    ids = [int(i) for i in job_ids]
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        # Wait for claims of these jobs in flight (they lock the ready rows), so the check below
        # sees them: a job claimed at this moment is running, not discarded under its worker.
        list(dialect.lock(ReadyExecution.objects.using(using).filter(job_id__in=ids).order_by("job_id"), "",
                          skip_locked=False).values_list("job_id"))
        running = ClaimedExecution.objects.using(using).filter(job_id__in=ids)
        if running.exists():
            raise UndiscardableError(
                f"jobs {sorted(running.values_list('job_id', flat=True))} are running and cannot be discarded"
            )
        return delete_unclaimed(ids, using=using)


def delete_unclaimed(ids: list[int], *, using: str) -> int:
    """Delete jobs none of which is claimed, giving back what they hold; return how many went.

    Call inside the caller's write transaction. A waiting job with a concurrency key that holds a
    slot (a ready one, or one a rate limit sent back to wait) gives it back, so the next blocked
    job of its key does not wait for the semaphore to expire. A workflow step whose job is deleted
    ends FAILED, so its workflow moves on instead of waiting for a job that no longer exists.
    """
    holding = Q(pk__in=ReadyExecution.objects.using(using).filter(job_id__in=ids).values("job_id")) | Q(
        pk__in=ScheduledExecution.objects.using(using).filter(job_id__in=ids, throttled=True).values("job_id"))
    holders = [job for job in Job.objects.using(using).filter(holding).exclude(concurrency_key=None)
               if job.concurrency_key]
    steps = list(Job.objects.using(using).filter(pk__in=ids, workflow_step_id__isnull=False, finished_at=None))
    deleted, per_model = Job.objects.using(using).filter(pk__in=ids).delete()
    # Workflows first, then semaphores in key order: the order finishing and failing lock them in.
    for job in steps:
        workflows.step_ended(job, using, succeeded=False)
    for job in sorted(holders, key=lambda held: (held.concurrency_key, held.pk)):
        release(job, using=using)
    return per_model.get(Job._meta.label, 0)


def discard_in_batches(execution_queryset, *, using: str, batch_size: int = BATCH) -> int:
    """Delete the jobs of every row of an execution queryset, ``batch_size`` jobs per transaction.

    Jobs that a discarded job's concurrency slot unblocks along the way are spared.
    """
    # Rows there when it began: a job a discarded job's slot unblocks gets a newer ready row.
    rows = execution_queryset.using(using).filter(created_at__lte=timezone.now()).order_by("job_id")
    removed = 0
    while True:
        ids = list(rows.values_list("job_id", flat=True)[:batch_size])
        if not ids:
            return removed
        removed += discard_jobs(ids, using=using)


# What ``cancel`` did: the waiting job ended FAILED, or the running job was asked to stop.
CANCELLED, REQUESTED = "cancelled", "requested"


def cancel(job_id: int, *, backend_alias: str = "default", using: str | None = None) -> str:
    """Cancel a job, keeping its record; return ``"cancelled"`` or ``"requested"``.

    A ready, scheduled or blocked job ends FAILED at once with ``JobCancelledError`` (its
    concurrency slot given back, the next blocked job of its key unblocked). A running job gets a
    cancellation request that the worker running it acts on. ``TaskResultDoesNotExist`` for an
    unknown id; ``NotCancellableError`` for a job that already finished.
    """
    using = _using(backend_alias, using)
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        job = dialect.lock(Job.objects.using(using).filter(pk=job_id, backend_alias=backend_alias),
                           backend_alias, skip_locked=False).first()
        if job is None:
            raise TaskResultDoesNotExist(str(job_id))
        holds_slot = bool(job.concurrency_key) and _holds_slot(job_id, using)
        for model in (ReadyExecution, ScheduledExecution, BlockedExecution):
            if model.objects.using(using).filter(job_id=job_id).delete()[0]:
                fail_unclaimed(job, JobCancelledError(f"job {job_id} ({job.task_path}) was cancelled"), using=using)
                if holds_slot:
                    release(job, using=using)
                return CANCELLED
        if ClaimedExecution.objects.using(using).filter(job_id=job_id).exists():
            Job.objects.using(using).filter(pk=job_id).update(cancel_requested_at=timezone.now())
            return REQUESTED
    state = "FAILED" if FailedExecution.objects.using(using).filter(job_id=job_id).exists() else "SUCCESSFUL"
    raise NotCancellableError(f"job {job_id} already finished ({state}); only waiting or running jobs "
                              f"can be cancelled")


def run_now(job_id: int, *, backend_alias: str = "default", using: str | None = None) -> str | None:
    """Move a scheduled job to ready at once, as if its time had come; return where it went.

    ``"ready"``, or for a job with a concurrency key what its semaphore decided (``"blocked"``,
    ``"discarded"``). ``None`` when the job is not scheduled (unknown, already dispatched, running
    or finished). Workers of its queue are woken as by an enqueue.
    """
    using = _using(backend_alias, using)
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        job = _locked_job(dialect, job_id, backend_alias, using)
        if job is None:
            return None
        held = bool(job.concurrency_key) and _holds_slot(job_id, using)
        if not ScheduledExecution.objects.using(using).filter(job_id=job_id).delete()[0]:
            return None
        # A job a rate limit sent back to wait still holds its slot: taking another would leak one.
        placed = place(job, settings_for_job(job) if job.concurrency_key and not held else None, using=using)
        if placed == "ready":
            announce_ready(job.backend_alias, using, [job.queue_name])
            notify_after_commit(job.backend_alias, {job.queue_name}, using)
    return placed


def change_priority(job_id: int, priority: int, *, backend_alias: str = "default",
                    using: str | None = None) -> bool:
    """Give a waiting (ready, scheduled or blocked) job a new priority; False if it is not waiting.

    ``ValueError`` for a priority outside -100..100. A ready job's queue is announced again, so an
    idle worker looks at the new order at once.
    """
    if isinstance(priority, bool) or not isinstance(priority, int) or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValueError(f"dj_queue: priority must be an integer between {PRIORITY_MIN} and {PRIORITY_MAX}, "
                         f"got {priority!r}")
    using = _using(backend_alias, using)
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        job = _locked_job(dialect, job_id, backend_alias, using)
        if job is None:
            return False
        changed = {model: model.objects.using(using).filter(job_id=job_id).update(priority=priority)
                   for model in (ReadyExecution, ScheduledExecution, BlockedExecution)}
        if not any(changed.values()):
            return False
        Job.objects.using(using).filter(pk=job_id).update(priority=priority)
        if changed[ReadyExecution]:
            announce_ready(job.backend_alias, using, [job.queue_name])
            notify_after_commit(job.backend_alias, {job.queue_name}, using)
    return True


def _holds_slot(job_id: int, using: str) -> bool:
    """True when the waiting job ``job_id`` holds a slot of its concurrency key.

    A ready job took one to become ready; a job a rate limit sent back to wait (a throttled
    scheduled row) kept the one it had. Blocked and other scheduled jobs hold none.
    """
    return (ReadyExecution.objects.using(using).filter(job_id=job_id).exists()
            or ScheduledExecution.objects.using(using).filter(job_id=job_id, throttled=True).exists())


def _locked_job(dialect, job_id: int, backend_alias: str, using: str) -> Job | None:
    """The job row, locked for this transaction (concurrent dispatch or claim waits, then sees it moved)."""
    jobs = Job.objects.using(using).filter(pk=job_id, backend_alias=backend_alias)
    return dialect.lock(jobs, backend_alias, skip_locked=False).first()
