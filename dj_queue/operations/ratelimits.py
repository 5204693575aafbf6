"""Rate limits through the database: take a start of a key, or send the job back to wait.

Each key has one ``RateLimitLog`` row holding the start times of its jobs in the last ``period``
seconds (a sliding log, pruned on every write). A worker about to run a rate-limited job locks
the row: with fewer than ``limit`` recent starts it appends its own and runs the job; otherwise
the job goes from claimed back to scheduled, due when the oldest start in the window leaves it,
flagged ``throttled``. That hand-back is no attempt: the worker id the claim appended is taken
off again, no error is recorded and no ``task_started`` is sent. Tasks without a rate limit
never get here (one dictionary lookup per job, in ``admit``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dj_queue import plugins
from dj_queue.exceptions import EnqueueError
from dj_queue.logs import job_fields
from dj_queue.models import Job, RateLimitLog, ScheduledExecution
from dj_queue.ratelimits import RateLimit, key_of, settings_for

logger = logging.getLogger("dj_queue.operations")

# A start is recorded when the worker admits the job, before its transaction commits and the task
# body runs, and that gap varies (a commit's fsync, thread hand-offs, a loaded host: over 100 ms
# was seen with several test suites on two cores). Each start therefore stays in the log this much
# longer than the period, so the bodies' start times, not only the admissions, hold the limit.
GUARD_FRACTION, GUARD_MAX = 0.25, 0.25

# (task path, backend alias) -> the task's RateLimit or None: tasks' settings do not change once imported.
_settings: dict[tuple[str, str], RateLimit | None] = {}


def admit(job: Job, task: Any, *, process_id: int | None, using: str) -> bool:
    """True when ``job`` may start now; False when it was throttled (or its claim was lost)."""
    cache_key = (job.task_path, job.backend_alias)
    if cache_key not in _settings:
        try:
            _settings[cache_key] = settings_for(task)
        except EnqueueError as exc:  # the decorator validates; a hand-set attribute may not
            logger.error("dj_queue: %s; running %s without a rate limit", exc, job.task_path)
            _settings[cache_key] = None
    settings = _settings[cache_key]
    if settings is None:
        return True
    key = key_of(task, settings, job.args or [], job.kwargs or {})
    wait = take(key, limit=settings.limit, period=settings.period, backend_alias=job.backend_alias, using=using)
    if wait is None:
        return True
    run_at = timezone.now() + timedelta(seconds=wait)
    if throttle(job, run_at, process_id=process_id, using=using):
        logger.debug("dj_queue: job %s (%s) throttled by rate limit %r until %s", job.pk, job.task_path, key,
                     run_at.isoformat(), extra=job_fields(job))
    return False


def take(key: str, *, limit: int, period: float, backend_alias: str, using: str) -> float | None:
    """Record one start of ``key`` now and return None, or return the seconds until one is allowed.

    Holds for any window of ``period`` seconds: a start is recorded only while fewer than
    ``limit`` starts of the key lie in the ``period`` seconds before it.
    """
    dialect = plugins.get_dialect(using)
    for _ in range(3):
        with dialect.write_transaction(using):
            rows = RateLimitLog.objects.using(using).filter(backend_alias=backend_alias, key=key)
            if dialect.connection.features.has_select_for_update:
                rows = rows.select_for_update()
            found = rows.values_list("id", "starts").first()
            if found is not None:
                return _decide(found, limit, period, using)
        _create(key, backend_alias, using)
    raise RuntimeError(f"dj_queue: rate-limit row for {key!r} keeps disappearing")  # pragma: no cover


def _decide(found: tuple[int, list], limit: int, period: float, using: str) -> float | None:
    row_id, starts = found
    now = time.time()
    window = period + min(GUARD_MAX, period * GUARD_FRACTION)
    recent = sorted(start for start in (starts or []) if start > now - window)
    wait = None
    if len(recent) >= limit:
        # The start that must leave the window before one more fits in it.
        wait = max(0.001, recent[len(recent) - limit] + window - now)
    else:
        recent.append(now)
    RateLimitLog.objects.using(using).filter(id=row_id).update(starts=recent, updated_at=timezone.now())
    return wait


def _create(key: str, backend_alias: str, using: str) -> None:
    try:
        with transaction.atomic(using=using):
            RateLimitLog.objects.using(using).create(backend_alias=backend_alias, key=key, starts=[])
    except IntegrityError:  # another worker created it first: lock that one
        pass


def throttle(job: Job, run_at: datetime, *, process_id: int | None, using: str) -> bool:
    """Claimed -> scheduled at ``run_at``, flagged throttled; not counted as an attempt.

    False when the claim of ``process_id`` is gone (another process owns the job now). A job with
    a concurrency key keeps its slot while it waits, so its scheduled row carries no key (the
    dispatcher would otherwise take a second slot).
    """
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        if not dialect.delete_claim(using, job.pk, process_id):
            return False
        worker_ids = Job.objects.using(using).filter(pk=job.pk).values_list("worker_ids", flat=True).first()
        worker_ids = list(worker_ids or [])[:-1]  # the claim appended this attempt's worker id
        fields: dict[str, Any] = {"worker_ids": worker_ids}
        if not worker_ids:  # it never started at all
            fields.update(started_at=None, last_attempted_at=None)
        Job.objects.using(using).filter(pk=job.pk).update(**fields)
        ScheduledExecution.objects.using(using).create(
            job_id=job.pk, backend_alias=job.backend_alias, queue_name=job.queue_name, priority=job.priority,
            scheduled_at=run_at, concurrency_key=None, throttled=True, created_at=timezone.now(),
        )
    job.worker_ids = worker_ids
    return True


def throttled_count(*, backend_alias: str, using: str) -> int:
    """Jobs waiting for their rate limit to allow another start."""
    return ScheduledExecution.objects.using(using).filter(backend_alias=backend_alias, throttled=True).count()


def recent_starts(key: str, *, period: float, backend_alias: str, using: str) -> int:
    """How many jobs of ``key`` started in the last ``period`` seconds (for status pages and tests)."""
    starts = RateLimitLog.objects.using(using).filter(backend_alias=backend_alias, key=key).values_list(
        "starts", flat=True).first() or []
    horizon = time.time() - period
    return sum(1 for start in starts if start > horizon)

