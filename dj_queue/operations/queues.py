"""Queue-level operations: size, latency, pause, resume and clear."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError
from django.db.models import Min
from django.utils import timezone

from dj_queue import plugins

from dj_queue.models import Job, Pause, ReadyExecution
from dj_queue.operations.enqueue import announce_ready, notify_after_commit

CLEAR_BATCH = 500


def queue_size(queue_name: str, *, backend_alias: str, using: str) -> int:
    """How many jobs are ready to run in ``queue_name``."""
    return ReadyExecution.objects.using(using).filter(
        backend_alias=backend_alias, queue_name=queue_name
    ).count()


def queue_latency(queue_name: str, *, backend_alias: str, using: str) -> timedelta:
    """Age of the oldest ready job in ``queue_name``; zero when the queue is empty."""
    oldest = ReadyExecution.objects.using(using).filter(
        backend_alias=backend_alias, queue_name=queue_name
    ).aggregate(oldest=Min("created_at"))["oldest"]
    return max(timezone.now() - oldest, timedelta(0)) if oldest else timedelta(0)


def is_paused(queue_name: str, *, backend_alias: str, using: str) -> bool:
    return Pause.objects.using(using).filter(backend_alias=backend_alias, queue_name=queue_name).exists()


def pause(queue_name: str, *, backend_alias: str, using: str) -> bool:
    """Stop workers claiming from ``queue_name``. Returns False if it was already paused."""
    try:
        with plugins.get_dialect(using).write_transaction(using):
            Pause.objects.using(using).create(backend_alias=backend_alias, queue_name=queue_name)
    except IntegrityError:
        return False
    return True


def resume(queue_name: str, *, backend_alias: str, using: str) -> bool:
    """Let workers claim from ``queue_name`` again. Returns False if it was not paused.

    Workers are woken as for an enqueue (NOTIFY at commit, in-process wakers after it), so the
    waiting jobs start now rather than at the next poll.
    """
    with plugins.get_dialect(using).write_transaction(using):
        deleted, _ = Pause.objects.using(using).filter(
            backend_alias=backend_alias, queue_name=queue_name
        ).delete()
        if deleted:
            announce_ready(backend_alias, using, [queue_name])
            notify_after_commit(backend_alias, {queue_name}, using)
    return bool(deleted)


def clear(queue_name: str, *, backend_alias: str, using: str, batch_size: int = CLEAR_BATCH) -> int:
    """Discard the ready jobs of ``queue_name`` (only ready ones), in batches; return the count."""
    ready = ReadyExecution.objects.using(using).filter(backend_alias=backend_alias, queue_name=queue_name)
    removed = 0
    while True:
        ids = list(ready.order_by("job_id").values_list("job_id", flat=True)[:batch_size])
        if not ids:
            return removed
        with plugins.get_dialect(using).write_transaction(using):
            # Only jobs still ready: one a worker claimed meanwhile is no longer ours to discard.
            still_ready = list(ready.filter(job_id__in=ids).values_list("job_id", flat=True))
            Job.objects.using(using).filter(pk__in=still_ready).delete()
        removed += len(still_ready)
