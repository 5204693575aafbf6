"""Recurring tasks: keep the table in step with the settings, and fire due runs exactly once.

Every scheduler computes the same ``run_at`` for a task and reserves it with a unique
``(backend_alias, task_key, run_at)`` row before enqueueing, so several schedulers sharing one
configuration fire each run once. Only the latest due run is fired: a scheduler that was down does
not replay a backlog.
Schedules are read in each task's time zone (``dj_queue.cron``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.utils import timezone

from dj_queue.compat import InvalidTask, task_backends
from dj_queue.config import cached_options
from dj_queue.cron import default_timezone, latest_run, schedule_error, timezone_error
from dj_queue.exceptions import EnqueueError, EnqueueVetoed, TaskResolutionError
from dj_queue.models import Job, RecurringExecution, RecurringTask
from dj_queue.resolution import resolve_task
from dj_queue.task_lookup import task_path_problem

logger = logging.getLogger("dj_queue.recurring")

TASK_FIELDS = ("task_path", "schedule", "args", "kwargs", "queue_name", "priority", "description", "timezone")


def static_task_problems(recurring: dict[str, dict], task_modules: Any = None) -> list[str]:
    """One line per static task whose ``task_path`` names no task a worker would run."""
    problems = []
    for key, spec in recurring.items():
        problem = task_path_problem(spec.get("task_path") if isinstance(spec, dict) else None, task_modules)
        if problem:
            problems.append(f"recurring task {key!r}: {problem}")
    return problems


def sync_static_tasks(recurring: dict[str, dict], *, backend_alias: str, using: str) -> None:
    """Make the static rows of ``backend_alias`` match ``OPTIONS["recurring"]``.

    Several schedulers may start at once: one that loses the race to create a row retries once,
    and then finds the row the other one wrote.
    """
    try:
        _sync_static(recurring, backend_alias, using)
    except IntegrityError:
        _sync_static(recurring, backend_alias, using)


def _sync_static(recurring: dict[str, dict], backend_alias: str, using: str) -> None:
    with transaction.atomic(using=using):
        rows = RecurringTask.objects.using(using).filter(backend_alias=backend_alias)
        rows.filter(static=True).exclude(key__in=list(recurring)).delete()
        for key, spec in recurring.items():
            values = {field: spec.get(field, _default(field)) for field in TASK_FIELDS}
            values.update(timezone=spec.get("timezone") or default_timezone(), static=True, updated_at=timezone.now())
            rows.update_or_create(backend_alias=backend_alias, key=key, defaults=values)


def _default(field: str) -> Any:
    if field == "timezone":
        return default_timezone()
    return {"args": [], "kwargs": {}, "description": ""}.get(field)


def schedule_dynamic(key: str, *, backend_alias: str, using: str, **spec: Any) -> RecurringTask:
    """Create or update a dynamic recurring task; ``EnqueueError`` for an invalid spec."""
    key_limit = RecurringTask._meta.get_field("key").max_length
    if not isinstance(key, str) or not key.strip() or len(key) > key_limit:
        raise EnqueueError(f"a recurring task's key must be a non-empty string of at most {key_limit} "
                           f"characters, got {key!r}")
    unknown = set(spec) - set(TASK_FIELDS)
    if unknown:
        raise EnqueueError(f"recurring task {key!r}: unknown field(s) {sorted(unknown)}")
    problem = schedule_error(spec.get("schedule"))
    if problem:
        raise EnqueueError(f"recurring task {key!r}: {problem}")
    if spec.get("timezone") is None:
        spec["timezone"] = default_timezone()
    problem = timezone_error(spec["timezone"])
    if problem:
        raise EnqueueError(f"recurring task {key!r}: {problem}")
    if not spec.get("task_path"):
        raise EnqueueError(f"recurring task {key!r}: task_path is required")
    _validate_task_path(key, spec["task_path"], backend_alias)
    _validate_arguments(key, spec)
    with transaction.atomic(using=using):
        existing = RecurringTask.objects.using(using).filter(backend_alias=backend_alias, key=key).first()
        if existing is not None and existing.static:
            raise EnqueueError(f"recurring task {key!r} is static (defined in settings) and cannot be replaced")
        values = {field: spec.get(field, _default(field)) for field in TASK_FIELDS}
        task, _ = RecurringTask.objects.using(using).update_or_create(
            backend_alias=backend_alias, key=key, defaults={**values, "static": False, "updated_at": timezone.now()}
        )
    return task


def _validate_task_path(key: str, task_path: str, backend_alias: str) -> None:
    problem = task_path_problem(task_path, _task_modules(backend_alias))
    if problem:
        raise EnqueueError(f"recurring task {key!r}: {problem}")


def _task_modules(backend_alias: str) -> Any:
    return cached_options(backend_alias).get("task_modules")


def _validate_arguments(key: str, spec: dict) -> None:
    problem = arguments_problem(spec)
    if problem:
        raise EnqueueError(f"recurring task {key!r}: {problem}")


def arguments_problem(spec: dict) -> str | None:
    """What is wrong with a task spec's args, kwargs, queue_name, priority or description, or None.

    Normalizes ``spec`` in place (args as a list, JSON round-tripped; description a string).
    """
    from dj_queue.models.jobs import PRIORITY_MAX, PRIORITY_MIN
    from dj_queue.serialization import SerializationError, ensure_json_roundtrip

    args, kwargs = spec.get("args") or [], spec.get("kwargs") or {}
    if not isinstance(args, (list, tuple)):
        return f"args must be a list, got {type(args).__name__} {args!r}"
    if not isinstance(kwargs, dict):
        return f"kwargs must be a dict, got {type(kwargs).__name__} {kwargs!r}"
    try:
        spec["args"] = ensure_json_roundtrip(list(args), "args")
        spec["kwargs"] = ensure_json_roundtrip(kwargs, "kwargs")
    except SerializationError as exc:
        return str(exc)
    queue_limit = RecurringTask._meta.get_field("queue_name").max_length
    queue = spec.get("queue_name")
    if queue and (not isinstance(queue, str) or len(queue) > queue_limit):  # "" or None: the task's own
        return f"queue_name must be a string of at most {queue_limit} characters, got {queue!r}"
    priority = spec.get("priority")
    if priority is not None and (type(priority) is not int or not PRIORITY_MIN <= priority <= PRIORITY_MAX):
        return f"priority must be an int from {PRIORITY_MIN} to {PRIORITY_MAX}"
    if not isinstance(spec.get("description") or "", str):
        return f"description must be a string, got {spec['description']!r}"
    spec["description"] = spec.get("description") or ""
    return None


def unschedule_dynamic(key: str, *, backend_alias: str, using: str) -> int:
    """Remove a dynamic task; static tasks are left alone (returns 0 for them)."""
    deleted, _ = RecurringTask.objects.using(using).filter(
        backend_alias=backend_alias, key=key, static=False
    ).delete()
    return min(deleted, 1)


def tasks_for(*, backend_alias: str, using: str, include_dynamic: bool = True) -> list[RecurringTask]:
    tasks = RecurringTask.objects.using(using).filter(backend_alias=backend_alias)
    return list(tasks if include_dynamic else tasks.filter(static=True))


def fire_due(*, backend_alias: str, using: str, now: datetime | None = None,
             tasks: list[RecurringTask] | None = None) -> list[int]:
    """Fire the latest due run of every task of ``backend_alias`` not fired yet; return job ids."""
    now = now or timezone.now()
    fired = []
    for task in tasks if tasks is not None else tasks_for(backend_alias=backend_alias, using=using):
        try:
            run_at = latest_run(task.schedule, now, task.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:  # one bad row must not stop the others
            logger.error("dj_queue: recurring task %r cannot be scheduled: %s", task.key, exc)
            continue
        if run_at < task.created_at.replace(microsecond=0):
            continue  # a new task waits for its first run rather than firing a past one
        job_id = fire(task, run_at, using=using)
        if job_id is not None:
            fired.append(job_id)
    return fired


def fire(task: RecurringTask, run_at: datetime, *, using: str) -> int | None:
    """Reserve ``run_at`` for ``task`` and enqueue its job; None if another scheduler has it.

    A run its task's ``should_enqueue`` (or a plugin) refuses keeps its reservation with no job:
    it is skipped, not asked again on every tick until the next run.
    """
    vetoed = None
    try:
        with transaction.atomic(using=using):
            reservation = RecurringExecution.objects.using(using).create(
                backend_alias=task.backend_alias, task_key=task.key, run_at=run_at
            )
            try:
                job = enqueue_recurring(task, using=using)
            except EnqueueVetoed as exc:  # raised before anything was written
                vetoed = exc
            else:
                reservation.job_id = job.pk
                reservation.save(update_fields=["job"], using=using)
    except IntegrityError:
        return None
    except TaskResolutionError:
        _report_once(task, run_at, lambda: task_path_problem(task.task_path, _task_modules(task.backend_alias)))
        return None
    except (EnqueueError, InvalidTask) as exc:  # the task's own checks refuse it: retrying will not help
        _report_once(task, run_at, exc.__str__)
        return None
    except Exception:
        logger.exception("dj_queue: recurring task %r could not be enqueued for %s", task.key, run_at)
        return None
    if vetoed is not None:
        logger.info("dj_queue scheduler skipped %s (%s) for %s: %s", task.key, task.task_path, run_at.isoformat(),
                    vetoed, extra={"task_key": task.key, "task_path": task.task_path, "run_at": run_at.isoformat()})
        return None
    logger.info("dj_queue scheduler fired %s (%s) for %s: job %s", task.key, task.task_path, run_at.isoformat(),
                job.pk, extra={"task_key": task.key, "task_path": task.task_path, "job_id": job.pk,
                               "queue": job.queue_name, "run_at": run_at.isoformat()})
    return job.pk


# (backend, key, task path) -> the last run reported, so a run that cannot be enqueued for a
# lasting reason (a path that no longer resolves, a queue the backend refuses) is logged once per
# run rather than on every scheduler tick until the next run is due.
_reported: dict[tuple[str, str, str], datetime] = {}


def _report_once(task: RecurringTask, run_at: datetime, problem: Callable[[], str]) -> None:
    mark = (task.backend_alias, task.key, task.task_path)
    if _reported.get(mark) == run_at:
        return
    _reported[mark] = run_at
    logger.error("dj_queue: recurring task %r was not enqueued for %s: %s", task.key, run_at.isoformat(), problem())


def enqueue_recurring(task: RecurringTask, *, using: str) -> Job:
    """Enqueue one run of ``task`` as ``task.enqueue()`` would, with the row's queue and priority.

    Going through the backend applies everything a direct enqueue does: the task's concurrency
    key and limit, its unique key (a live holder is returned instead of a new job), its
    ``should_enqueue`` check (``EnqueueVetoed``) and Django's ``task_enqueued`` signal.
    """
    target = resolve_task(task.task_path, _task_modules(task.backend_alias))
    overrides = {"queue_name": task.queue_name or None, "priority": task.priority}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    if target.backend != task.backend_alias:
        overrides["backend"] = task.backend_alias
    if overrides:
        target = target.using(**overrides)
    result = task_backends[task.backend_alias].enqueue(target, task.args, task.kwargs)
    return Job.objects.using(using).get(pk=result.id)
