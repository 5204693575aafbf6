"""Queue-level operations: size, latency, depths of every queue, pause, resume and clear."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError
from django.db.models import Count, Min
from django.utils import timezone

from dj_queue import plugins

from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    Pause,
    ReadyExecution,
    ScheduledExecution,
)
from dj_queue.operations.events import announce_ready, notify_after_commit
from dj_queue.operations.jobs import delete_unclaimed

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


def queue_depths(*, backend_alias: str, using: str) -> list[dict[str, Any]]:
    """Every queue of the backend with a job in a live state, or paused, sorted by name.

    Each entry: ``name``, ``ready``, ``scheduled``, ``blocked``, ``claimed``, ``failed``,
    ``latency_seconds`` (age of the oldest ready job) and ``paused``. One GROUP BY query per
    state table, whatever the number of queues.
    """
    counts: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return counts.setdefault(name, {"name": name, "ready": 0, "scheduled": 0, "blocked": 0, "claimed": 0,
                                        "failed": 0, "latency_seconds": 0.0, "paused": False})

    now = timezone.now()
    ready = ReadyExecution.objects.using(using).filter(backend_alias=backend_alias)
    for row in ready.values("queue_name").annotate(n=Count("pk"), oldest=Min("created_at")).order_by():
        queue = entry(row["queue_name"])
        queue["ready"] = row["n"]
        queue["latency_seconds"] = round(max((now - row["oldest"]).total_seconds(), 0.0), 3)
    for state, model in (("scheduled", ScheduledExecution), ("blocked", BlockedExecution)):
        rows = model.objects.using(using).filter(backend_alias=backend_alias).values("queue_name")
        for row in rows.annotate(n=Count("pk")).order_by():
            entry(row["queue_name"])[state] = row["n"]
    # Claimed and failed rows carry no queue column: group on the job's.
    for state, model in (("claimed", ClaimedExecution), ("failed", FailedExecution)):
        rows = model.objects.using(using).filter(backend_alias=backend_alias).values("job__queue_name")
        for row in rows.annotate(n=Count("pk")).order_by():
            entry(row["job__queue_name"])[state] = row["n"]
    for name in Pause.objects.using(using).filter(backend_alias=backend_alias).values_list("queue_name", flat=True):
        entry(name)["paused"] = True
    return [counts[name] for name in sorted(counts)]


def finished_counts(*, backend_alias: str, using: str, since: datetime,
                    until: datetime) -> dict[str, dict[str, int]]:
    """Jobs per queue whose ``finished_at`` lies in ``[since, until)``: ``{"finished": n, "failed": m}``.

    ``finished`` counts successful jobs only. Jobs deleted on success
    (``preserve_finished_jobs`` off) are gone and cannot be counted.
    """
    rows = (Job.objects.using(using)
            .filter(backend_alias=backend_alias, finished_at__gte=since, finished_at__lt=until)
            .values("queue_name").annotate(total=Count("pk"), failed=Count("failed_execution")).order_by())
    return {row["queue_name"]: {"finished": row["total"] - row["failed"], "failed": row["failed"]} for row in rows}


def is_paused(queue_name: str, *, backend_alias: str, using: str) -> bool:
    return Pause.objects.using(using).filter(backend_alias=backend_alias, queue_name=queue_name).exists()


def queue_name_problem(queue_name: Any) -> str | None:
    """Why ``queue_name`` cannot name a queue (not a non-empty string that fits the column), or None."""
    limit = Pause._meta.get_field("queue_name").max_length
    if not isinstance(queue_name, str) or not queue_name.strip():
        return f"a queue name is a non-empty string, got {queue_name!r}"
    if len(queue_name) > limit:
        return f"a queue name has at most {limit} characters, got {len(queue_name)}"
    return None


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
    """Discard the ready jobs of ``queue_name`` (only ready ones), in batches; return the count.

    A discarded job's concurrency slot goes to the next blocked job of its key, which is spared:
    clearing removes what was ready, not the blocked work behind it.
    """
    # Ready when the clear began: a job a cleared job's slot unblocks gets a newer ready row.
    started = timezone.now()
    ready = ReadyExecution.objects.using(using).filter(backend_alias=backend_alias, queue_name=queue_name,
                                                       created_at__lte=started)
    removed = 0
    while True:
        ids = list(ready.order_by("job_id").values_list("job_id", flat=True)[:batch_size])
        if not ids:
            return removed
        dialect = plugins.get_dialect(using)
        with dialect.write_transaction(using):
            # Only jobs still ready, locked: one a worker is claiming (its row locked) or claimed
            # meanwhile is no longer ours to discard.
            still_ready = list(dialect.lock(ready.filter(job_id__in=ids), backend_alias)
                               .values_list("job_id", flat=True))
            delete_unclaimed(still_ready, using=using)
        removed += len(still_ready)
