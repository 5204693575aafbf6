"""Ready -> claimed for a worker, in batches; claimed -> ready again on a shutdown deadline.

The claim is written once, here; a dialect may run it as vendor SQL (``Dialect.claim``,
``claim_rows``, ``finish_and_claim``) and returns None where it has no faster way.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from dj_queue import plugins
from dj_queue.dialects import backend_option
from dj_queue.models import ClaimedExecution, Job, Pause, ReadyExecution
from dj_queue.operations.completion import finish_many, finish_rows, settle, split_steps
from dj_queue.operations.events import after_commit
from dj_queue.operations.selectors import parse_selectors

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
    dialect = plugins.get_dialect(using)
    kwargs = {"using": using, "backend_alias": backend_alias, "selectors": parsed, "limit": limit,
              "process_id": process_id, "worker_id": worker_id, "now": timezone.now()}
    jobs = dialect.claim(**kwargs)
    if jobs is None:
        with dialect.write_transaction(using):
            jobs = claim_rows(dialect, **kwargs)
    if jobs:
        after_commit(using, backend_alias, "dj_queue_jobs_claimed", process=process, jobs=jobs)
    return jobs


def run_turn(dialect: Any, *, items: list[tuple[int, Any]], **kwargs: Any) -> tuple[list[int], list[Job]]:
    """A worker's turn in one transaction: the dialect's vendor turn, or finish rows then claim rows."""
    turn = dialect.finish_and_claim(items=items, **kwargs)
    if turn is not None:
        return turn
    with dialect.write_transaction(kwargs["using"]):
        done = finish_rows(dialect, using=kwargs["using"], items=items, process_id=kwargs["process_id"],
                           now=kwargs["now"])
        return done, claim_rows(dialect, **kwargs)


def claim_rows(dialect: Any, **kwargs: Any) -> list[Job]:
    """The claim's statements inside the caller's transaction: the dialect's, or the generic ones."""
    jobs = dialect.claim_rows(**kwargs)
    return jobs if jobs is not None else _claim_rows(dialect, **kwargs)


def _claim_rows(dialect: Any, *, using: str, backend_alias: str, selectors: list, limit: int,
                process_id: int | None, worker_id: str, now: datetime.datetime) -> list[Job]:
    picked = _pick_ready(dialect, using, backend_alias, selectors, limit)
    if not picked:
        return []
    dialect.delete_ids(using, ReadyExecution, [ready for ready, _ in picked])
    job_ids = [job for _, job in picked]
    ClaimedExecution.objects.using(using).bulk_create(
        ClaimedExecution(job_id=job_id, backend_alias=backend_alias, process_id=process_id, created_at=now)
        for job_id in job_ids
    )
    mark_attempt(dialect, using, job_ids, worker_id, now)
    jobs = Job.objects.using(using).in_bulk(job_ids)
    return [jobs[job_id] for job_id in job_ids]


def _pick_ready(dialect: Any, using: str, backend_alias: str, selectors: list, limit: int) -> list[tuple[int, int]]:
    """Lock up to ``limit`` ready rows, selector by selector; return ``(ready id, job id)``s."""
    paused = Pause.objects.using(using).filter(backend_alias=backend_alias).values("queue_name")
    picked: list[tuple[int, int]] = []
    for selector in selectors:
        wanted = limit - len(picked)
        if wanted <= 0:
            break
        rows = ReadyExecution.objects.using(using).filter(selector.q(), backend_alias=backend_alias)
        rows = rows.exclude(queue_name__in=paused)
        if picked:  # an earlier, overlapping selector already took these
            rows = rows.exclude(id__in=[ready for ready, _ in picked])
        rows = dialect.lock(rows.order_by("-priority", "job_id"), backend_alias)
        picked.extend(rows.values_list("id", "job_id")[:wanted])
    return picked


def mark_attempt(dialect: Any, using: str, job_ids: list[int], worker_id: str, now: datetime.datetime) -> None:
    """Stamp the start of an attempt on jobs: times, and ``worker_id`` appended to ``worker_ids``."""
    jobs = Job.objects.using(using).filter(id__in=job_ids)
    times = {
        "started_at": Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
        "last_attempted_at": now,
    }
    appended = dialect.worker_id_appended(worker_id)
    if appended is not None:
        jobs.update(worker_ids=appended, **times)
        return
    jobs.update(**times)
    for job_id, worker_ids in list(jobs.values_list("id", "worker_ids")):
        Job.objects.using(using).filter(id=job_id).update(worker_ids=[*(worker_ids or []), worker_id])


def finish_and_claim(*, outcomes: list[tuple[Job, object]], backend_alias: str, using: str,
                     selectors: list[str], limit: int, process_id: int | None, worker_id: str,
                     process: object | None = None) -> tuple[list[Job], list[Job]]:
    """Record finished jobs and claim the next ones in one transaction (one commit per turn).

    ``outcomes`` are ``(job, return value)`` pairs as ``completion.finish_many`` takes them.
    Returns ``(jobs finished, jobs claimed)``; a job whose claim was lost is in neither.
    """
    outcomes, stepped = split_steps(outcomes, process_id=process_id, using=using)
    if stepped:
        finished, claimed = finish_and_claim(outcomes=outcomes, backend_alias=backend_alias, using=using,
                                             selectors=selectors, limit=limit, process_id=process_id,
                                             worker_id=worker_id, process=process)
        return stepped + finished, claimed
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
    dialect = plugins.get_dialect(using)
    kwargs = {"using": using, "backend_alias": backend_alias, "selectors": parse_selectors(selectors),
              "limit": limit, "process_id": process_id, "worker_id": worker_id, "now": now}
    done, jobs = run_turn(dialect, items=[(pk, value) for pk, (_, value) in by_id.items()], **kwargs)
    if jobs:
        after_commit(using, backend_alias, "dj_queue_jobs_claimed", process=process, jobs=jobs)
    return settle(by_id, done, now), jobs


def release(*, job_ids: list[int], process_id: int | None, using: str) -> int:
    """Put claims of ``process_id`` on these jobs back to ready; return how many went back.

    The attempt stays recorded in ``worker_ids``: it did start.
    """
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
