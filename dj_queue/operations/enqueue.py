"""Enqueue: new jobs go straight into ready or scheduled executions.

Single enqueue is the hot path: one transaction with two INSERTs and no SELECT, sent in one round
trip where the dialect can (``Dialect.insert_job``: on PostgreSQL one statement that also carries
the NOTIFY, on MySQL one multi-statement query). Bulk enqueue writes a batch of jobs and their
executions in one statement or round trip where the dialect can (``Dialect.insert_jobs``), else
with the ORM's bulk inserts. Either way jobs with a concurrency key take their semaphore one at a
time, in enqueue order. Callers validate arguments first (the backend does); these functions
only write.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from django.db import connections, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from dj_queue import plugins
from dj_queue.concurrency import Concurrency
from dj_queue.dialects import NewJobs, fills_directly
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Job, ReadyExecution, ScheduledExecution
from dj_queue.operations import concurrency as semaphores
from dj_queue.operations.events import announce_ready, announcement_sql, jobs_created, notify_after_commit
from dj_queue.serialization import dumps

# Rows per INSERT statement, lowered further by the database's parameter limit.
BATCH_SIZE = 1000
# Bytes of arguments per INSERT statement: stays well under MySQL's max_allowed_packet (16 MiB on
# MariaDB by default) even when many jobs carry large payloads.
BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class JobSpec:
    """One job to enqueue in bulk. ``payload_bytes`` (if known) saves measuring it again."""

    task_path: str
    queue_name: str
    priority: int
    args: list
    kwargs: dict
    run_after: datetime | None = None
    payload_bytes: int | None = field(default=None, compare=False)
    concurrency_key: str | None = None
    concurrency: Concurrency | None = field(default=None, compare=False)
    # The arguments' compact JSON text (``serialization.encode``), if the caller has it already.
    args_json: str | None = field(default=None, compare=False)
    kwargs_json: str | None = field(default=None, compare=False)


def enqueue_job(
    *,
    backend_alias: str,
    using: str,
    task_path: str,
    queue_name: str,
    priority: int,
    args: list,
    kwargs: dict,
    run_after: datetime | None = None,
    concurrency_key: str | None = None,
    concurrency: Concurrency | None = None,
) -> Job:
    """Insert one job and its ready, scheduled or (concurrency) blocked execution in one transaction."""
    now = timezone.now()
    spec = JobSpec(task_path, queue_name, priority, args, kwargs, run_after,
                   concurrency_key=concurrency_key, concurrency=concurrency)
    job = _new_job(spec, backend_alias, now)
    headers_for(backend_alias, [job])
    if not _gated(job, spec, now) and _insert_in_one_round_trip(job, backend_alias, using, now):
        jobs_created(using, backend_alias, [job])
        if not _is_future(job.scheduled_at, now):
            notify_after_commit(backend_alias, {queue_name}, using)
        return job
    # savepoint=False: inside a caller's transaction a savepoint would add two round trips.
    with transaction.atomic(using=using, savepoint=False):
        job.save(using=using, force_insert=True)
        if _gated(job, spec, now):
            ready = semaphores.place(job, concurrency, using=using) == "ready"
        else:
            execution = _execution_for(job, now)
            execution.save(using=using, force_insert=True)
            ready = isinstance(execution, ReadyExecution)
        if ready:
            announce_ready(backend_alias, using, (queue_name,))
        jobs_created(using, backend_alias, [job])
    if not _is_future(job.scheduled_at, now):
        notify_after_commit(backend_alias, {queue_name}, using)
    return job


def _insert_in_one_round_trip(job: Job, backend_alias: str, using: str, now: datetime) -> bool:
    """Write the job, its execution and the ready announcement in one round trip, if the dialect can."""
    dialect = plugins.get_dialect(using)
    if not dialect.inserts_jobs_in_one_round_trip:
        return False
    execution = _execution_for(job, now)
    ready_sql: list[tuple[str, list]] | None = []
    if isinstance(execution, ReadyExecution):
        ready_sql = announcement_sql(backend_alias, using, [job.queue_name])
    if ready_sql is None:
        return False
    job_id = dialect.insert_job(using=using, job=job, execution=execution, ready_sql=ready_sql)
    if job_id is None:
        return False
    job.pk, job._state.adding, job._state.db = job_id, False, using  # as save() leaves it
    return True


def enqueue_jobs(specs: Iterable[JobSpec], *, backend_alias: str, using: str) -> list[Job]:
    """Insert many jobs and their executions in one transaction, batched; return the jobs."""
    specs = list(specs)
    if not specs:
        return []
    now = timezone.now()
    jobs = _new_jobs(specs, backend_alias, now)
    headers = headers_for(backend_alias, jobs)
    with transaction.atomic(using=using, savepoint=False):
        became_ready = _insert_through_dialect(jobs, specs, backend_alias, using, now, headers)
        if became_ready is None:  # the generic way: the ORM's bulk_create, batch by batch
            became_ready = set()
            for start, stop in _batches(specs, batch_size(using)):
                became_ready |= _insert_batch(jobs[start:stop], specs[start:stop], using, now)
        if became_ready:
            announce_ready(backend_alias, using, became_ready)
        jobs_created(using, backend_alias, jobs)
    ready_queues = {job.queue_name for job in jobs if not _is_future(job.scheduled_at, now)}
    if ready_queues:
        notify_after_commit(backend_alias, ready_queues, using)
    return jobs


def _insert_through_dialect(jobs: list[Job], specs: list[JobSpec], backend_alias: str, using: str,
                            now: datetime, headers: dict[str, str] | None) -> set[str] | None:
    """Insert with the dialect's ``insert_jobs``; return the queues that got ready jobs, or None
    (nothing written) when the dialect has no such fast path."""
    starts = [None if _gated(job, spec, now) else
              "scheduled" if _is_future(job.scheduled_at, now) else "ready"
              for job, spec in zip(jobs, specs)]
    rows = [(spec.queue_name, spec.task_path, spec.priority, _json(spec.args_json, spec.args),
             _json(spec.kwargs_json, spec.kwargs), spec.run_after, spec.concurrency_key) for spec in specs]
    new = NewJobs(backend_alias, now, rows, starts, list(_batches(specs, batch_size(using))), headers)
    ids = plugins.get_dialect(using).insert_jobs(using=using, jobs=new)
    if ids is None:
        return None
    for job, job_id in zip(jobs, ids):
        job.pk, job._state.adding, job._state.db = job_id, False, using  # as save() leaves it
    became_ready = {spec.queue_name for spec, start in zip(specs, starts) if start == "ready"}
    for job, spec, start in zip(jobs, specs, starts):  # semaphores are taken in enqueue order
        if start is None and semaphores.place(job, spec.concurrency, using=using) == "ready":
            became_ready.add(job.queue_name)
    return became_ready


def headers_for(backend_alias: str, jobs: list[Job]) -> dict[str, str] | None:
    """Ask ``dj_queue_enqueue_headers`` once for the whole call and set the merged headers on
    every job; return them (None when no plugin gave any)."""
    hook = plugins.get_plugin_manager().hook.dj_queue_enqueue_headers
    if not hook.get_hookimpls():  # the usual case: no pluggy call on the hot path
        return None
    headers: dict[str, str] = {}
    for given in reversed(hook(backend_alias=backend_alias, jobs=jobs)):  # registration order
        if given:
            headers.update(given)
    if not headers:
        return None
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in headers.items()):
        raise EnqueueError(f"dj_queue_enqueue_headers must return string keys and values, got {headers!r}")
    for job in jobs:
        job.headers = dict(headers)  # each job its own: no row shares a mutable dict
    return headers


def _json(text: str | None, value: Any) -> str:
    # ASCII: the stored text is then safe in a column of any character set.
    return text if text is not None else json.dumps(value, separators=(",", ":"))


def batch_size(using: str) -> int:
    """Rows per INSERT for the jobs and executions tables on database ``using``."""
    ops = connections[using].ops
    size = BATCH_SIZE
    for model in (Job, ReadyExecution, ScheduledExecution):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        size = min(size, ops.bulk_batch_size(fields, [None] * BATCH_SIZE))
    return max(size, 1)


def _gated(job: Job, spec: JobSpec, now: datetime) -> bool:
    """A job with a concurrency key that may run now must take a slot first."""
    return bool(spec.concurrency_key) and not _is_future(job.scheduled_at, now)


def _new_job(spec: JobSpec, backend_alias: str, now: datetime) -> Job:
    return _new_jobs([spec], backend_alias, now)[0]


def _new_jobs(specs: Sequence[JobSpec], backend_alias: str, now: datetime) -> list[Job]:
    """Unsaved ``Job`` instances for ``specs``, every field set as ``Job(...)`` would set it."""
    if not fills_directly(Job):
        return [_unsaved(Job, False, **_job_values(spec, backend_alias, now)) for spec in specs]
    template, fresh = _layout(Job)
    shared = {"backend_alias": backend_alias, "enqueued_at": now}
    given = ("queue_name", "task_path", "priority", "args", "kwargs", "scheduled_at", "concurrency_key")
    fresh = [(name, make) for name, make in fresh if name not in given and name not in shared]
    jobs = []
    for spec in specs:  # _unsaved, unrolled: this loop runs once per job of a bulk
        job = Job.__new__(Job)
        values = job.__dict__
        values.update(template)
        values.update(shared)
        values.update(_state=ModelState(), queue_name=spec.queue_name, task_path=spec.task_path,
                      priority=spec.priority, args=spec.args, kwargs=spec.kwargs, scheduled_at=spec.run_after,
                      concurrency_key=spec.concurrency_key)
        for name, make in fresh:
            values[name] = make()  # callable defaults ([] and {}): one value per job
        jobs.append(job)
    return jobs


def _job_values(spec: JobSpec, backend_alias: str, now: datetime) -> dict[str, Any]:
    return {"concurrency_key": spec.concurrency_key, "backend_alias": backend_alias, "queue_name": spec.queue_name,
            "task_path": spec.task_path, "priority": spec.priority, "args": spec.args, "kwargs": spec.kwargs,
            "scheduled_at": spec.run_after, "enqueued_at": now}


def _unsaved(model: Any, direct: bool, job: Job | None = None, **values: Any) -> Any:
    """A new ``model`` instance with ``values`` (by attribute name) and defaults elsewhere."""
    if not direct:
        return model(job=job, **values) if job is not None else model(**values)
    template, fresh = _layout(model)
    state = ModelState()
    instance = model.__new__(model)
    instance.__dict__.update(template, _state=state, **values)
    for name, make in fresh:
        if name not in values:
            instance.__dict__[name] = make()  # callable defaults ([], {}, now()): one value per instance
    if job is not None:
        instance.__dict__["job_id"] = job.pk
        state.fields_cache["job"] = job
    return instance


@functools.lru_cache(maxsize=8)
def _layout(model: Any) -> tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]]:
    """Each field's default value by attribute name, and the callable defaults to call per instance."""
    fields = model._meta.concrete_fields
    template = {field.attname: None if field.primary_key else field.get_default() for field in fields}
    fresh = [(field.attname, field.default) for field in fields
             if not field.primary_key and field.has_default() and callable(field.default)]
    return template, fresh


def _execution_for(job: Job, now: datetime) -> ReadyExecution | ScheduledExecution:
    """The first state of a new job without a concurrency key to acquire."""
    common = {"backend_alias": job.backend_alias, "queue_name": job.queue_name,
              "priority": job.priority, "created_at": now}
    if _is_future(job.scheduled_at, now):
        return _unsaved(ScheduledExecution, fills_directly(ScheduledExecution), job=job, scheduled_at=job.scheduled_at,
                        concurrency_key=job.concurrency_key, **common)
    return _unsaved(ReadyExecution, fills_directly(ReadyExecution), job=job, **common)


def _is_future(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def _batches(specs: Sequence[JobSpec], rows: int) -> Iterable[tuple[int, int]]:
    """Yield ``(start, stop)`` slices of at most ``rows`` jobs and about ``BATCH_BYTES`` of arguments."""
    start, size = 0, 0
    for index, spec in enumerate(specs):
        spec_bytes = spec.payload_bytes if spec.payload_bytes is not None else _measure(spec)
        if index > start and (index - start >= rows or size + spec_bytes > BATCH_BYTES):
            yield start, index
            start, size = index, 0
        size += spec_bytes
    yield start, len(specs)


def _measure(spec: JobSpec) -> int:
    return len(dumps(spec.args)) + len(dumps(spec.kwargs))


def _insert_batch(jobs: list[Job], specs: list[JobSpec], using: str, now: datetime) -> set[str]:
    """Insert one batch; return the queue names of the jobs that became ready."""
    if connections[using].features.can_return_rows_from_bulk_insert:
        Job.objects.using(using).bulk_create(jobs)
    if any(job.pk is None for job in jobs):
        # The database cannot return ids from a multi-row INSERT (MySQL): insert one by one, still
        # inside the caller's transaction. Executions below stay bulk since their ids are unused.
        for job in jobs:
            job.save(using=using, force_insert=True)
    gated = [(job, spec) for job, spec in zip(jobs, specs) if _gated(job, spec, now)]
    became_ready = set()
    for job, spec in gated:  # semaphores are taken one job at a time, in enqueue order
        if semaphores.place(job, spec.concurrency, using=using) == "ready":
            became_ready.add(job.queue_name)
    gated_ids = {id(job) for job, _ in gated}
    executions = [_execution_for(job, now) for job in jobs if id(job) not in gated_ids]
    ready = [e for e in executions if isinstance(e, ReadyExecution)]
    scheduled = [e for e in executions if isinstance(e, ScheduledExecution)]
    if ready:
        ReadyExecution.objects.using(using).bulk_create(ready)
    if scheduled:
        ScheduledExecution.objects.using(using).bulk_create(scheduled)
    return became_ready | {e.queue_name for e in ready}
