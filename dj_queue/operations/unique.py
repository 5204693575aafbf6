"""Unique jobs: enqueue a job unless a live job already holds its unique key.

A ``UniqueReservation`` row per key names the job holding it. The enqueue inserts the row if it
is missing (``INSERT ... ON CONFLICT DO NOTHING`` / ``INSERT IGNORE`` / ``INSERT OR IGNORE``,
which waits for a racing enqueue of the same key to commit), then locks it for the rest of its
transaction. A holder is live while its period has not expired and the job is still in one of the
counted states; otherwise the new job takes the row over. So two racing enqueues of one key write
one job, on every database, and no transition has to release anything: a reservation whose job
left the counted states (finished, failed, cancelled, discarded, deleted) is free by definition,
which keeps tasks without ``@unique`` exactly as cheap as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from dj_queue import plugins
from dj_queue.models import Job, UniqueReservation
from dj_queue.operations.enqueue import JobSpec, enqueue_job, enqueue_jobs
from dj_queue.unique import Unique

# The Q matching jobs in each state (the execution tables, and finished_at for "successful").
_IN_STATE = {
    "ready": Q(ready_execution__isnull=False),
    "scheduled": Q(scheduled_execution__isnull=False),
    "blocked": Q(blocked_execution__isnull=False),
    "claimed": Q(claimed_execution__isnull=False),
    "failed": Q(failed_execution__isnull=False),
    "successful": Q(finished_at__isnull=False, failed_execution__isnull=True),
}


def enqueue_unique(spec: JobSpec, key: str, unique: Unique, *, backend_alias: str,
                   using: str) -> tuple[Job, bool]:
    """Enqueue ``spec`` unless a live job holds ``key``; return ``(job, created)``.

    ``created`` is False when the job returned is the existing holder (nothing was written).
    """
    with plugins.get_dialect(using).write_transaction(using):
        now = timezone.now()
        held = holder(key, unique, backend_alias=backend_alias, using=using, now=now)
        if held is not None:
            return held, False
        job = enqueue_job(
            backend_alias=backend_alias, using=using, task_path=spec.task_path, queue_name=spec.queue_name,
            priority=spec.priority, args=spec.args, kwargs=spec.kwargs, run_after=spec.run_after,
            concurrency_key=spec.concurrency_key, concurrency=spec.concurrency,
        )
        hold(key, job.pk, unique, backend_alias=backend_alias, using=using, now=now)
    return job, True


def enqueue_unique_jobs(specs: list[JobSpec], keys: list[tuple[str, Unique] | None], *, backend_alias: str,
                        using: str) -> list[tuple[Job, bool]]:
    """Bulk ``enqueue_unique``: ``keys[i]`` is spec i's ``(key, Unique)`` or None (not unique).

    A key's first call in the batch is enqueued unless a live job holds it; later calls of the
    same key, like calls of held keys, get that job. Keys are locked in sorted order, so two
    batches sharing keys cannot deadlock. Returns ``(job, created)`` per spec, in order.
    """
    with plugins.get_dialect(using).write_transaction(using):
        now = timezone.now()
        settings = {entry[0]: entry[1] for entry in keys if entry is not None}
        holders = {key: holder(key, settings[key], backend_alias=backend_alias, using=using, now=now)
                   for key in sorted(settings)}
        first: dict[str, int] = {}
        writes = [index for index, entry in enumerate(keys)
                  if entry is None or (holders[entry[0]] is None and first.setdefault(entry[0], index) == index)]
        written = dict(zip(writes, enqueue_jobs([specs[i] for i in writes], backend_alias=backend_alias, using=using)))
        for key, index in first.items():
            hold(key, written[index].pk, settings[key], backend_alias=backend_alias, using=using, now=now)
    return [(written[index], True) if index in written else
            (holders[entry[0]] or written[first[entry[0]]], False)
            for index, entry in enumerate(keys)]


def holder(key: str, unique: Unique, *, backend_alias: str, using: str, now: datetime) -> Job | None:
    """Lock ``key``'s reservation (creating it free when missing); return its live holder or None.

    Call inside a transaction: the lock keeps a racing enqueue of the key waiting until it ends.
    """
    reservations = UniqueReservation.objects.using(using).filter(backend_alias=backend_alias, key=key)
    UniqueReservation.objects.using(using).bulk_create(
        [UniqueReservation(backend_alias=backend_alias, key=key, created_at=now)], ignore_conflicts=True,
    )
    dialect = plugins.get_dialect(using)
    job_id, expires_at = dialect.lock(reservations, backend_alias, skip_locked=False).values_list(
        "job_id", "expires_at").get()
    if job_id is None or (expires_at is not None and expires_at <= now):
        return None
    live = Q()
    for state in unique.states:
        live |= _IN_STATE[state]
    jobs = Job.objects.using(using).select_related("claimed_execution", "failed_execution")
    return jobs.filter(live, pk=job_id).first()


def hold(key: str, job_id: int, unique: Unique, *, backend_alias: str, using: str, now: datetime) -> None:
    """Make ``job_id`` the holder of ``key`` (whose reservation the caller has locked)."""
    expires = None if unique.period is None else now + timedelta(seconds=unique.period)
    UniqueReservation.objects.using(using).filter(backend_alias=backend_alias, key=key).update(
        job_id=job_id, expires_at=expires, created_at=now,
    )



def prune_reservations(*, backend_alias: str, using: str, batch_size: int = 500) -> int:
    """Delete up to ``batch_size`` reservations that hold nothing: their period is over, or their
    job is gone (pruned, discarded). Return how many went. The rest are reused by the next enqueue
    of their key; a reservation an enqueue holds locked is re-checked after it commits, so a key
    just taken over is never deleted."""
    rows = UniqueReservation.objects.using(using).filter(backend_alias=backend_alias)
    free = rows.filter(expires_at__lt=timezone.now()) | rows.filter(job_id__isnull=False).exclude(
        job_id__in=Job.objects.using(using).values("pk"))
    ids = list(free.values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0
    return UniqueReservation.objects.using(using).filter(pk__in=ids).filter(
        Q(expires_at__lt=timezone.now()) | ~Q(job_id__in=Job.objects.using(using).values("pk"))).delete()[0]
