"""Run one claimed job: resolve its task, call it, then record it finished or failed.

Whatever the task does (raise, return something JSON cannot hold, call ``sys.exit``) fails only
its own job. The ``task_started`` / ``task_finished`` signals are sent the way Django's own
backends send them, ``task_finished`` for a failure from inside the exception handler.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from django.db import DatabaseError
from django.utils import timezone

from dj_queue import plugins
from dj_queue.compat import TaskContext, TaskError, TaskResultStatus, task_finished, task_started
from dj_queue.exceptions import TaskResolutionError
from dj_queue.models import Job

logger = logging.getLogger("dj_queue.execute")


class _CallOnce:
    """The task call handed to ``dj_queue_execute`` wrappers; a second call never re-runs the task.

    ``dj_queue_execute`` is first-result: a wrapper whose task returned ``None`` lets pluggy go on
    to the next implementation, which must get the same outcome rather than run the task again.
    """

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def __call__(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self._value = self._fn()
            except BaseException as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._value


def execute(job: Job, *, backend: Any, process_id: int | None, using: str,
            task_modules: list[str] | None = None, completions: Any = None) -> bool:
    """Run ``job`` (already claimed by ``process_id``); return True if it finished successfully.

    With ``completions`` (a ``runtime.completions.Completions``) a success is recorded in a batch
    with other jobs' instead of in its own transaction.
    """
    from dj_queue.resolution import resolve_task

    try:
        task = resolve_task(job.task_path, task_modules)
    except TaskResolutionError as exc:
        logger.warning("dj_queue: job %s refused: %s", job.pk, exc)
        _record_failure(job, exc, process_id=process_id, using=using)
        return False
    return _run(job, task, backend=backend, process_id=process_id, using=using, completions=completions)


def _run(job: Job, task: Any, *, backend: Any, process_id: int | None, using: str, completions: Any) -> bool:
    from dj_queue.results import task_for, to_task_result
    from dj_queue.serialization import ensure_json_roundtrip

    try:  # the task as enqueued (its queue and priority), for signal receivers
        shown = task_for(job, backend)
    except TaskResolutionError:
        shown = task
    result = to_task_result(job, backend, status=TaskResultStatus.RUNNING, task=shown)
    task_started.send(sender=type(backend), task_result=result)
    try:
        call = _CallOnce(lambda: _call_task(task, result, job))
        value = plugins.get_plugin_manager().hook.dj_queue_execute(job=job, call=call)
        if value is None:
            value = call()
        value = ensure_json_roundtrip(value, f"the return value of {job.task_path}")
    except BaseException as exc:  # SystemExit included: it fails only this job
        _record_failure(job, exc, process_id=process_id, using=using)
        _set(result, status=TaskResultStatus.FAILED, finished_at=timezone.now())
        result.errors.append(TaskError(exception_class_path=_class_path(exc), traceback=_format(exc)))
        task_finished.send(sender=type(backend), task_result=result)
        return False
    if completions is not None:  # recorded in a batch; the worker loop announces it
        completions.add(job, value, result)
        return True
    if not _with_retry(lambda: _finish(job, value, process_id=process_id, using=using)):
        return False
    announce_finished(job, value, result, backend=backend)
    return True


def announce_finished(job: Job, value: Any, result: Any, *, backend: Any) -> None:
    """Mark the job's TaskResult successful and send ``task_finished`` (after the finish committed)."""
    _set(result, status=TaskResultStatus.SUCCESSFUL, finished_at=job.finished_at or timezone.now(),
         _return_value=value)
    task_finished.send(sender=type(backend), task_result=result)


def _call_task(task: Any, result: Any, job: Job) -> Any:
    args = job.args or []
    if task.takes_context:
        args = [TaskContext(task_result=result), *args]
    # Task.call runs coroutine functions through async_to_sync.
    return task.call(*args, **(job.kwargs or {}))


def _finish(job: Job, value: Any, *, process_id: int | None, using: str) -> bool:
    from dj_queue.operations.completion import finish

    return finish(job, value, process_id=process_id, using=using)


def _record_failure(job: Job, exc: BaseException, *, process_id: int | None, using: str) -> bool:
    from dj_queue.operations.completion import fail

    text = _format(exc)
    return _with_retry(lambda: fail(job, exc, process_id=process_id, using=using, traceback_text=text))


def _with_retry(fn: Callable[[], bool]) -> bool:
    """Run a completion write, once more on a fresh connection if the first hit a dead one.

    Completions are idempotent (they need the claim), so a retry never records twice.
    """
    from dj_queue.runtime.base import check_connections

    try:
        return fn()
    except DatabaseError:
        check_connections()
        return fn()


def _set(result: Any, **values: Any) -> None:
    # TaskResult is frozen; Django's own backends update it in place the same way.
    for name, value in values.items():
        object.__setattr__(result, name, value)


def _class_path(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
