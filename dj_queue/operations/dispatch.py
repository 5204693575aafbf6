"""Scheduled -> ready: promote due jobs in batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from dj_queue import plugins
from dj_queue.models import Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.concurrency import place, settings_for_job
from dj_queue.operations.events import announce_ready, notify_after_commit


def dispatch_due(*, backend_alias: str, using: str, batch_size: int = 500) -> int:
    """Promote up to ``batch_size`` scheduled jobs whose time has come; return how many.

    One transaction per call; rows are locked with SKIP LOCKED where the database and the
    ``use_skip_locked`` option allow, so several dispatchers split the work instead of waiting.
    Jobs with a concurrency key go through their semaphore (ready, blocked or discarded).
    Call again while it returns ``batch_size``.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"dj_queue: batch_size must be a positive integer, got {batch_size!r}")
    now = timezone.now()
    dialect = plugins.get_dialect(using)
    moved = dialect.dispatch_due(using=using, backend_alias=backend_alias, batch_size=batch_size, now=now)
    if moved is None:
        moved = _dispatch_plain(dialect, using=using, backend_alias=backend_alias, batch_size=batch_size, now=now)
    if moved:
        # The dialect does not say which queues it filled; an empty list means "any queue". On
        # PostgreSQL the promotion was one autocommit statement, so this is a statement of its own.
        announce_ready(backend_alias, using, [])
        notify_after_commit(backend_alias, None, using)
    if moved < batch_size:
        moved += dispatch_gated(backend_alias=backend_alias, using=using, batch_size=batch_size - moved, now=now)
    return moved


def _dispatch_plain(dialect: Any, *, using: str, backend_alias: str, batch_size: int, now: datetime) -> int:
    """Promote due jobs without a concurrency key, oldest first, in one transaction."""
    with dialect.write_transaction(using):
        due = ScheduledExecution.objects.using(using).filter(
            backend_alias=backend_alias, scheduled_at__lte=now, concurrency_key__isnull=True
        )
        due = dialect.lock(due.order_by("scheduled_at", "-priority", "job_id"), backend_alias)
        rows = list(due.values_list("id", "job_id", "queue_name", "priority")[:batch_size])
        if not rows:
            return 0
        dialect.delete_ids(using, ScheduledExecution, [row[0] for row in rows])
        ReadyExecution.objects.using(using).bulk_create(
            ReadyExecution(job_id=job_id, backend_alias=backend_alias, queue_name=queue_name,
                           priority=priority, created_at=now)
            for _, job_id, queue_name, priority in rows
        )
    return len(rows)


def dispatch_gated(*, backend_alias: str, using: str, batch_size: int, now) -> int:
    """Promote due jobs that carry a concurrency key, each through its semaphore."""
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        due = ScheduledExecution.objects.using(using).filter(
            backend_alias=backend_alias, scheduled_at__lte=now, concurrency_key__isnull=False
        )
        rows = list(dialect.lock(due.order_by("scheduled_at", "-priority", "job_id"), backend_alias)
                    .values_list("id", "job_id")[:batch_size])
        if not rows:
            return 0
        dialect.delete_ids(using, ScheduledExecution, [row_id for row_id, _ in rows])
        became_ready = set()
        for job in Job.objects.using(using).filter(pk__in=[job_id for _, job_id in rows]).order_by("pk"):
            if place(job, settings_for_job(job), using=using) == "ready":
                became_ready.add(job.queue_name)
        if became_ready:
            announce_ready(backend_alias, using, became_ready)
            notify_after_commit(backend_alias, became_ready, using)
    return len(rows)
