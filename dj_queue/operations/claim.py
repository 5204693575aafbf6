"""Ready -> claimed for a worker, in batches; claimed -> ready again on a shutdown deadline."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Callable

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from dj_queue import plugins
from dj_queue.dialects import backend_option
from dj_queue.operations.selectors import parse_selectors

if TYPE_CHECKING:
    from dj_queue.models import Job

logger = logging.getLogger("dj_queue.operations")


def claim(*, backend_alias: str, using: str, selectors: list[str], limit: int,
          process_id: int | None, worker_id: str, process: object | None = None) -> list[Job]:
    """Move up to ``limit`` ready jobs to claimed for this process and return them, in claim order.

    Selector order beats priority: the first selector is drained (highest priority first, then
    lowest job id) before the next is read. Paused queues are skipped. One transaction per call;
    ``dj_queue_jobs_claimed`` fires after it commits.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"dj_queue: claim limit must be a non-negative integer, got {limit!r}")
    parsed = parse_selectors(selectors)
    if limit == 0:
        return []
    jobs = plugins.get_dialect(using).claim(
        using=using, backend_alias=backend_alias, selectors=parsed, limit=limit,
        process_id=process_id, worker_id=worker_id, now=timezone.now(),
    )
    if jobs:
        after_commit(using, backend_alias, "dj_queue_jobs_claimed", process=process, jobs=jobs)
    return jobs


def finish_and_claim(*, outcomes: list[tuple[Job, object]], backend_alias: str, using: str,
                     selectors: list[str], limit: int, process_id: int | None, worker_id: str,
                     process: object | None = None) -> tuple[list[Job], list[Job]]:
    """Record finished jobs and claim the next ones in one transaction (one commit per turn).

    ``outcomes`` are ``(job, return value)`` pairs as ``completion.finish_many`` takes them.
    Returns ``(jobs finished, jobs claimed)``; a job whose claim was lost is in neither.
    """
    from dj_queue.operations.completion import finish_many, settle

    if not outcomes:
        return [], claim(backend_alias=backend_alias, using=using, selectors=selectors, limit=limit,
                         process_id=process_id, worker_id=worker_id, process=process)
    if limit == 0 or not backend_option(backend_alias, "preserve_finished_jobs"):
        finished = finish_many(outcomes, process_id=process_id, using=using)
        if limit == 0:
            return finished, []
        return finished, claim(backend_alias=backend_alias, using=using, selectors=selectors, limit=limit,
                               process_id=process_id, worker_id=worker_id, process=process)
    now = timezone.now()
    by_id = {job.pk: (job, value) for job, value in outcomes}
    done, jobs = plugins.get_dialect(using).finish_and_claim(
        using=using, backend_alias=backend_alias, items=[(pk, value) for pk, (_, value) in by_id.items()],
        selectors=parse_selectors(selectors), limit=limit, process_id=process_id, worker_id=worker_id, now=now,
    )
    if jobs:
        after_commit(using, backend_alias, "dj_queue_jobs_claimed", process=process, jobs=jobs)
    return settle(by_id, done, now, using=using), jobs


def release(*, job_ids: list[int], process_id: int | None, using: str) -> int:
    """Put claims of ``process_id`` on these jobs back to ready; return how many went back.

    The attempt stays recorded in ``worker_ids``: it did start.
    """
    from dj_queue.models import ClaimedExecution, Job, ReadyExecution

    if not job_ids:
        return 0
    dialect = plugins.get_dialect(using)
    with dialect.write_transaction(using):
        claims = ClaimedExecution.objects.using(using).filter(job_id__in=job_ids, process_id=process_id)
        if dialect.connection.features.has_select_for_update:
            claims = claims.select_for_update()  # recovery may be failing the same claims
        rows = list(claims.values_list("id", "job_id"))
        if not rows:
            return 0
        held = [job_id for _, job_id in rows]
        dialect.delete_ids(using, ClaimedExecution, [claim_id for claim_id, _ in rows])
        jobs = Job.objects.using(using).filter(id__in=held)
        ReadyExecution.objects.using(using).bulk_create(
            ReadyExecution(job_id=job_id, backend_alias=alias, queue_name=queue, priority=priority)
            for job_id, alias, queue, priority in jobs.values_list(
                "id", "backend_alias", "queue_name", "priority")
        )
    return len(held)


def after_commit(using: str, backend_alias: str, hook_name: str, **kwargs: Any) -> None:
    """Fire a fan-out hook once the surrounding transaction commits (at once in autocommit)."""
    on_error = thread_error_handler(backend_alias)
    transaction.on_commit(
        functools.partial(plugins.call_safely, hook_name, on_error, **kwargs), using=using
    )


def thread_error_handler(backend_alias: str) -> Callable[[BaseException], Any] | None:
    """Return the backend's ``on_thread_error`` callable, or ``None``."""
    path = backend_option(backend_alias, "on_thread_error")
    if not path:
        return None
    try:
        return _import(path)
    except ImportError:
        logger.exception("dj_queue: on_thread_error %r cannot be imported", path)
        return None


@functools.lru_cache(maxsize=16)
def _import(path: str) -> Callable[[BaseException], Any]:
    return import_string(path)
