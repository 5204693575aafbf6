"""Semaphores: how jobs with a concurrency key take, hold and give back slots.

A ``Semaphore`` row per key counts free slots. A job that gets a slot goes to ready; one that does
not is blocked (``on_conflict="block"``) or recorded as failed with ``ConcurrencyLimitDiscarded``
(``"discard"``). Finishing or failing a job gives its slot back and moves the next blocked job of
the key (highest priority, then oldest) to ready. Slots and blocks expire after the task's
``duration``; the dispatcher's maintenance cleans both up.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dj_queue.concurrency import Concurrency, settings_for
from dj_queue.dialects import backend_option
from dj_queue.exceptions import ConcurrencyLimitDiscarded, TaskResolutionError
from dj_queue.failures import error_entry
from dj_queue.models import BlockedExecution, FailedExecution, Job, ReadyExecution, Semaphore
from dj_queue.operations import workflows
from dj_queue.operations.events import after_commit
from dj_queue.plugins import get_dialect
from dj_queue.resolution import resolve_task


def acquire(key: str, *, limit: int, duration: float, backend_alias: str, using: str) -> bool:
    """Take one slot of ``key``; False when all ``limit`` slots are taken."""
    now = timezone.now()
    rows = Semaphore.objects.using(using).filter(backend_alias=backend_alias, key=key)
    expires = now + timedelta(seconds=duration)
    if rows.filter(value__gt=0).update(value=F("value") - 1, expires_at=expires, updated_at=now):
        return True
    if rows.exists():
        return False
    try:
        with transaction.atomic(using=using):
            Semaphore.objects.using(using).create(
                backend_alias=backend_alias, key=key, value=limit - 1, expires_at=expires
            )
        return True
    except IntegrityError:  # another enqueue created it first: compete for its slots
        return bool(rows.filter(value__gt=0).update(value=F("value") - 1, expires_at=expires, updated_at=now))


def signal(key: str, *, limit: int, backend_alias: str, using: str) -> None:
    """Give one slot of ``key`` back (never above ``limit``)."""
    Semaphore.objects.using(using).filter(backend_alias=backend_alias, key=key, value__lt=limit).update(
        value=F("value") + 1, updated_at=timezone.now()
    )


def place(job: Job, settings: Concurrency | None, *, using: str) -> str:
    """Put a job that may run now into ready, blocked or failed; return which ("ready", ...)."""
    if settings is None or not job.concurrency_key:
        _make_ready(job, using)
        return "ready"
    if job.workflow_step_id is not None:  # a discard below ends the step: workflow before semaphore
        workflows.lock_workflow_of(job, using)
    if acquire(job.concurrency_key, limit=settings.limit, duration=settings.duration,
               backend_alias=job.backend_alias, using=using):
        _make_ready(job, using)
        return "ready"
    if settings.on_conflict == "discard":
        error = ConcurrencyLimitDiscarded(
            f"concurrency key {job.concurrency_key!r} is at its limit of {settings.limit}; job discarded"
        )
        now = timezone.now()
        entry = error_entry(error, now, traceback_text="")
        FailedExecution.objects.using(using).create(
            job=job, backend_alias=job.backend_alias, exception_class=entry["exception_class"],
            message=entry["message"], traceback="", created_at=now,
        )
        job.errors = [entry]
        Job.objects.using(using).filter(pk=job.pk).update(finished_at=now, errors=job.errors)  # as fail() does
        job.finished_at = now
        job.discard_error = error  # lets enqueue report FAILED at once
        if job.workflow_step_id is not None:  # a workflow step's retry, discarded when due
            workflows.step_ended(job, using, succeeded=False)
        after_commit(using, job.backend_alias, "dj_queue_job_failed", job=job, error=error)
        return "discarded"
    BlockedExecution.objects.using(using).create(
        job=job, backend_alias=job.backend_alias, queue_name=job.queue_name, priority=job.priority,
        concurrency_key=job.concurrency_key,
        expires_at=timezone.now() + timedelta(seconds=settings.duration),
    )
    return "blocked"


def _make_ready(job: Job, using: str) -> None:
    ReadyExecution.objects.using(using).create(
        job=job, backend_alias=job.backend_alias, queue_name=job.queue_name, priority=job.priority
    )


def settings_for_job(job: Job) -> Concurrency | None:
    """The concurrency settings of the job's task (None if the task is gone or declares none).

    Resolved with the backend's ``task_modules``, as a worker resolves it: a task found only
    through that allowlist must still take its slot when dispatched or retried here.
    """
    try:
        return settings_for(resolve_task(job.task_path, backend_option(job.backend_alias, "task_modules")))
    except (TaskResolutionError, Exception):
        return None


def release(job: Job, *, using: str) -> Job | None:
    """Give back ``job``'s slot and unblock the next job of its key; return that job, if any.

    Call inside the transaction that finishes or fails ``job``.
    """
    if not job.concurrency_key:
        return None
    settings = settings_for_job(job)
    limit = settings.limit if settings else 1
    signal(job.concurrency_key, limit=limit, backend_alias=job.backend_alias, using=using)
    return unblock_next(job.concurrency_key, backend_alias=job.backend_alias, using=using)


def unblock_next(key: str, *, backend_alias: str, using: str) -> Job | None:
    """Move the next blocked job of ``key`` to ready if a slot is free."""
    blocked = BlockedExecution.objects.using(using).filter(backend_alias=backend_alias, concurrency_key=key)
    # No select_related: FOR UPDATE would then lock the job row too.
    candidate = get_dialect(using).lock(blocked.order_by("-priority", "job_id"), backend_alias).first()
    if candidate is None:
        return None
    candidate.job = Job.objects.using(using).get(pk=candidate.job_id)
    settings = settings_for_job(candidate.job)
    limit, duration = (settings.limit, settings.duration) if settings else (1, 60.0)
    if not acquire(key, limit=limit, duration=duration, backend_alias=backend_alias, using=using):
        return None
    candidate.delete()
    _make_ready(candidate.job, using)
    return candidate.job


def expire_semaphores(*, backend_alias: str, using: str) -> int:
    """Delete semaphores whose slots outlived their duration (jobs stuck or long gone)."""
    deleted, _ = Semaphore.objects.using(using).filter(
        backend_alias=backend_alias, expires_at__lt=timezone.now()
    ).delete()
    return deleted


def release_expired_blocked(*, backend_alias: str, using: str, batch_size: int = 500) -> int:
    """Try to unblock jobs blocked longer than their duration; return how many went to ready."""
    keys = (
        BlockedExecution.objects.using(using)
        .filter(backend_alias=backend_alias, expires_at__lt=timezone.now())
        .values_list("concurrency_key", flat=True).distinct()[:batch_size]
    )
    released = 0
    for key in list(keys):
        with transaction.atomic(using=using):
            released += unblock_next(key, backend_alias=backend_alias, using=using) is not None
    return released
