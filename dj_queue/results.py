"""Build a django.tasks ``TaskResult`` from a ``Job`` row."""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from dj_queue.compat import Task, TaskError, TaskResult, TaskResultDoesNotExist, TaskResultStatus
from dj_queue.exceptions import TaskResolutionError
from dj_queue.models import FailedExecution, Job
from dj_queue.resolution import resolve_task

# A job id as text: what ``get_result`` and the other lookups by id accept (an int, or its digits).
_ID = re.compile(r"[0-9]{1,18}")


def job_pk(value: Any) -> int:
    """The job id ``value`` names (an int or its text); ``TaskResultDoesNotExist`` for anything else
    (``"abc"``, ``None``, ``-1``, a number too large for the column), never ``ValueError``."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not _ID.fullmatch(text):
        raise TaskResultDoesNotExist(str(value))
    return int(text)


def to_task_result(
    job: Job,
    backend: Any,
    *,
    status: TaskResultStatus | None = None,
    task: Task | None = None,
    errors: list[TaskError] | None = None,
) -> TaskResult:
    """Return the ``TaskResult`` of ``job`` as seen by ``backend``.

    Without ``status`` it is derived from the job's executions, which should have been loaded with
    ``select_related("claimed_execution", "failed_execution")`` (otherwise this queries). Callers
    that know the state (the worker, enqueue) pass ``status`` and skip those lookups; ``task``
    skips resolving the task path and ``errors`` skips reading the failed execution.
    """
    needs_failure = status is None or (status == TaskResultStatus.FAILED and errors is None)
    failed = _related(job, "failed_execution") if needs_failure else None
    if status is None:
        status = _status_of(job, failed)
    if errors is None:
        errors = errors_of(job, failed)
    result = TaskResult(
        task=task if task is not None else task_for(job, backend),
        id=str(job.pk),
        status=status,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=failed.created_at if failed is not None else job.finished_at,
        last_attempted_at=job.last_attempted_at,
        args=job.args,
        kwargs=job.kwargs,
        backend=backend.alias,
        errors=errors,
        worker_ids=list(job.worker_ids or []),
    )
    # TaskResult is frozen; Django's own backends set the return value the same way.
    object.__setattr__(result, "_return_value", job.return_value)
    return result


def enqueued_result(job: Job, backend_alias: str, task: Task) -> TaskResult:
    """The ``TaskResult`` of a job just written as ready or scheduled: what ``to_task_result``
    gives with ``status=READY, task=task, errors=[]``, without its lookups (enqueue's hot path)."""
    result = TaskResult(
        task=task, id=str(job.pk), status=TaskResultStatus.READY, enqueued_at=job.enqueued_at,
        started_at=job.started_at, finished_at=job.finished_at, last_attempted_at=job.last_attempted_at,
        args=job.args, kwargs=job.kwargs, backend=backend_alias, errors=[], worker_ids=list(job.worker_ids or []),
    )
    if job.return_value is not None:  # never for a new job; kept exact all the same
        object.__setattr__(result, "_return_value", job.return_value)
    return result


# The TaskResult fields a new job's result has of its own; it shares the others with every new
# job of the same task and enqueue call.
_OWN = ("id", "args", "kwargs", "errors", "worker_ids")
_SHARED = tuple(f.name for f in dataclasses.fields(TaskResult) if f.name not in _OWN)
_set = object.__setattr__


class NewResults:
    """The results of one enqueue call's new jobs: what ``enqueued_result`` gives for each.

    ``TaskResult(...)`` builds the first of each task; the next ones copy its shared fields and
    set their own as its ``__post_init__`` does (args and kwargs normalized into new lists and
    dicts), so a bulk of thousands of jobs runs the constructor once per task.
    """

    def __init__(self, backend_alias: str) -> None:
        self.backend_alias = backend_alias
        self._first: dict[int, TaskResult] = {}

    def __call__(self, job: Job, task: Task) -> TaskResult:
        first = self._first.get(id(task))
        if first is None or first.task is not task or first.enqueued_at != job.enqueued_at or not _new(job):
            result = enqueued_result(job, self.backend_alias, task)
            if first is None and _new(job):
                self._first[id(task)] = result
            return result
        result = object.__new__(TaskResult)
        for name in _SHARED:
            _set(result, name, getattr(first, name))
        _set(result, "id", str(job.pk))
        _set(result, "errors", [])
        _set(result, "worker_ids", [])
        if job.args or job.kwargs:
            _set(result, "args", job.args)
            _set(result, "kwargs", job.kwargs)
            result.__post_init__()  # normalizes them into its own lists and dicts
        else:  # what that gives for no arguments
            _set(result, "args", [])
            _set(result, "kwargs", {})
        return result


def _new(job: Job) -> bool:
    """Nothing about ``job`` has happened yet: its result differs from another's only by _OWN."""
    return (job.started_at is None and job.finished_at is None and job.last_attempted_at is None
            and not job.worker_ids and job.return_value is None)


def errors_of(job: Job, failed: FailedExecution | None) -> list[TaskError]:
    """One ``TaskError`` per failed attempt (rows from before attempt history: the last failure)."""
    if job.errors:
        return [TaskError(exception_class_path=e["exception_class"], traceback=e["traceback"] or e["message"])
                for e in job.errors]
    return [error_of(failed)] if failed is not None else []


def error_of(failed: FailedExecution) -> TaskError:
    """The ``TaskError`` recorded by a failed execution."""
    return TaskError(exception_class_path=failed.exception_class, traceback=failed.traceback)


class StoredTask(Task):
    """Stands in for a job's task when its stored path does not resolve (here, or any more).

    A result is the job's data and must stay readable; this names the stored path
    (``module_path``) and carries the job's queue, priority and backend, but cannot run.
    """

    def __post_init__(self) -> None:
        # Not a task being defined: nothing for the backend to validate or remember.
        pass

    @property
    def module_path(self) -> str:
        return self.func.dj_queue_task_path


def task_for(job: Job, backend: Any) -> Task:
    """The module's ``Task`` for ``job``, with the job's own priority, queue, schedule and backend.

    A path that does not resolve gets a ``StoredTask`` in its place.
    """
    try:
        task = resolve_task(job.task_path, backend.options.get("task_modules"))
    except TaskResolutionError:
        task = _stand_in(job.task_path)
    variant = _variant(task, job.priority, job.queue_name, backend.alias)
    if job.scheduled_at is not None and variant.run_after != job.scheduled_at:
        variant = _using(variant, run_after=job.scheduled_at)
    return variant


@lru_cache(maxsize=256)
def _stand_in(task_path: str) -> Task:
    # One object per path, so Task.get_result's function identity check holds for stand-ins too.
    def unresolved(*args: Any, **kwargs: Any) -> Any:
        raise TaskResolutionError(f"dj_queue: task {task_path!r} does not resolve, so it cannot run")

    module, _, name = task_path.rpartition(".")
    unresolved.__module__, unresolved.__qualname__, unresolved.__name__ = module, name, name
    unresolved.dj_queue_task_path = task_path  # type: ignore[attr-defined]
    return StoredTask(func=unresolved)


def _status_of(job: Job, failed: FailedExecution | None) -> TaskResultStatus:
    if failed is not None:
        return TaskResultStatus.FAILED
    if _related(job, "claimed_execution") is not None:
        return TaskResultStatus.RUNNING
    if job.finished_at is not None:
        return TaskResultStatus.SUCCESSFUL
    return TaskResultStatus.READY


def _related(job: Job, name: str) -> Any:
    try:
        return getattr(job, name)
    except ObjectDoesNotExist:
        return None


@lru_cache(maxsize=1024)
def _variant(task: Task, priority: int, queue_name: str, backend_alias: str) -> Task:
    # Few distinct combinations exist, and .using() re-validates the task: cache it.
    changes = {
        "priority": priority if priority != task.priority else None,
        "queue_name": queue_name if queue_name != task.queue_name else None,
        "backend": backend_alias if backend_alias != task.backend else None,
    }
    return _using(task, **changes)


def _using(task: Task, **changes: Any) -> Task:
    if not any(value is not None for value in changes.values()):
        return task
    try:
        return task.using(**changes)
    except Exception:
        # The settings changed since the job was enqueued (its queue left QUEUES, its backend
        # alias is gone): the module's task still identifies the function, all a result needs.
        return task
