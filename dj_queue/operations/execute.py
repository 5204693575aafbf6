"""Run one claimed job: resolve its task, call it, then record it finished, retried or failed.

Whatever the task does (raise, return something JSON cannot hold, call ``sys.exit``, run past its
timeout) ends only its own attempt. Signals follow Django's own backends: ``task_started`` for
every attempt, ``task_finished`` once the job is SUCCESSFUL or FAILED for good (for a failure from
inside the exception handler); an attempt that will be retried sends no ``task_finished``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import traceback
from typing import Any, Callable

import pluggy
from asgiref.sync import async_to_sync
from django.db import DatabaseError, connections
from django.utils import timezone

from dj_queue import plugins, running
from dj_queue.compat import TaskContext, TaskResultStatus, task_finished, task_started
from dj_queue.config import cached_options
from dj_queue.exceptions import EnqueueError, JobCancelledError, TaskResolutionError
from dj_queue.logs import job_fields
from dj_queue.models import ClaimedExecution, Job
from dj_queue.operations import ratelimits
from dj_queue.operations.completion import FAILED, fail, finish
from dj_queue.policies import Policy, policy_for
from dj_queue.resolution import resolve_task
from dj_queue.results import errors_of, task_for, to_task_result
from dj_queue.serialization import ensure_json_roundtrip

logger = logging.getLogger("dj_queue.execute")

# (task path, backend alias) -> Policy: tasks' settings do not change once imported.
_policies: dict[tuple[str, str], Policy] = {}


def execute(job: Job, *, backend: Any, process_id: int | None, using: str,
            task_modules: list[str] | None = None, completions: Any = None) -> bool:
    """Run ``job`` (already claimed by ``process_id``); return True if it finished successfully.

    With ``completions`` (a ``runtime.completions.Completions``) a success is recorded in a batch
    with other jobs' instead of in its own transaction.
    """
    try:
        task = resolve_task(job.task_path, task_modules)
    except TaskResolutionError as exc:
        logger.warning("dj_queue: job %s (%s) refused: %s", job.pk, job.task_path, exc, extra=job_fields(job))
        _record_failure(job, exc, process_id=process_id, using=using, policy=None)
        return False
    policy = policy_of(job, task)
    try:
        if not _with_retry(lambda: ratelimits.admit(job, task, process_id=process_id, using=using)):
            return False  # throttled: back to scheduled, not an attempt (operations/ratelimits.py)
    except EnqueueError as exc:  # its rate-limit key cannot be built from the job's arguments
        _record_failure(job, exc, process_id=process_id, using=using, policy=None)
        return False
    attempt = running.start(job, timeout=policy.timeout, policy=policy, coroutine=is_coroutine(task.func))
    try:
        return _run(job, task, policy, attempt, backend=backend, process_id=process_id, using=using,
                    completions=completions)
    finally:
        running.end(attempt)


@functools.lru_cache(maxsize=1024)
def is_coroutine(func: Callable[..., Any]) -> bool:
    """``inspect.iscoroutinefunction``, asked once per task function (several times per job)."""
    return inspect.iscoroutinefunction(func)


def policy_of(job: Job, task: Any) -> Policy:
    """The job's policy, computed once per task and backend in this process."""
    key = (job.task_path, job.backend_alias)
    policy = _policies.get(key)
    if policy is None:
        policy = _policies[key] = policy_for(task, cached_options(job.backend_alias))
    return policy


def _run(job: Job, task: Any, policy: Policy, attempt: running.Attempt, *, backend: Any,
         process_id: int | None, using: str, completions: Any) -> bool:
    try:  # the task as enqueued (its queue and priority), for signal receivers
        shown = task_for(job, backend)
    except TaskResolutionError:
        shown = task
    result = to_task_result(job, backend, status=TaskResultStatus.RUNNING, task=shown, errors=errors_of(job, None))
    task_started.send(sender=type(backend), task_result=result)
    # The at-most-once start mark goes last, right before the body, so a worker killed after
    # writing it has (almost surely) begun the job: see docs/reliability.md.
    if policy.delivery == "at_most_once" and policy.exactly_once is None:
        if not _with_retry(lambda: _mark_started(job, process_id, using)):
            logger.warning("dj_queue: job %s (%s) lost its claim before it started; not running it",
                           job.pk, job.task_path, extra=job_fields(job))
            return False  # the claim is gone: another process owns the job now
    try:
        def body() -> Any:
            return attempt.run(lambda: _call_task(task, result, job, attempt))

        if policy.exactly_once is not None:
            return _run_exactly_once(job, body, result, attempt, backend=backend, process_id=process_id,
                                     using=using)
        value = _outcome(job, body, attempt)
    except BaseException as exc:  # SystemExit included: it fails only this attempt
        return _failed(job, attempt.translate(exc), result, policy, backend=backend, process_id=process_id,
                       using=using)
    if completions is not None:  # recorded in a batch; the worker loop announces it
        completions.add(job, value, result)
        return True
    if not _with_retry(lambda: finish(job, value, process_id=process_id, using=using)):
        return False
    announce_finished(job, value, result, backend=backend)
    return True


def _outcome(job: Job, body: Callable[[], Any], attempt: running.Attempt) -> Any:
    value = _through_wrappers(job, body)
    value = ensure_json_roundtrip(value, f"the return value of {job.task_path}")
    if attempt.cancel_requested:  # the task saw the request and returned early
        raise JobCancelledError(f"job {job.pk} ({job.task_path}) was cancelled while running")
    return value


def _through_wrappers(job: Job, body: Callable[[], Any]) -> Any:
    """Run ``body`` once, inside every ``dj_queue_execute`` wrapper, and return its value.

    ``body`` joins the call as its only plain implementation (plugins may register only
    wrappers), so each wrapper's ``yield`` gets its value or its exception.
    """
    hook = plugins.get_plugin_manager().hook.dj_queue_execute
    wrappers = hook.get_hookimpls()
    if not wrappers:  # nobody wraps: skip pluggy on the hot path
        return body()
    outer = getattr(_bodies, "current", None)
    _bodies.current = body
    try:
        # What ``hook.call_extra`` does, without building (and inspecting) a new HookImpl per job.
        return hook._hookexec(hook.name, [_INNERMOST, *wrappers], {"job": job}, True)
    finally:
        _bodies.current = outer


# The body of the attempt running in this thread, for the innermost implementation below.
_bodies = threading.local()


def _innermost(job: Job) -> Any:
    return _bodies.current()


_INNERMOST = pluggy.HookImpl(None, "<dj_queue core>", _innermost, {
    "wrapper": False, "hookwrapper": False, "optionalhook": False, "tryfirst": False, "trylast": False,
    "specname": None})


def _run_exactly_once(job: Job, body: Callable[[], Any], result: Any, attempt: running.Attempt, *, backend: Any,
                      process_id: int | None, using: str) -> bool:
    """The body and the job's completion in one transaction: both happen, or neither does."""

    class _ClaimLost(Exception):
        pass

    try:
        with plugins.get_dialect(using).write_transaction(using):
            value = _outcome(job, body, attempt)
            if not finish(job, value, process_id=process_id, using=using):
                raise _ClaimLost  # rolls the body's writes back with it
    except _ClaimLost:
        logger.warning("dj_queue: job %s (%s) lost its claim while running; its writes were rolled back",
                       job.pk, job.task_path, extra=job_fields(job))
        return False
    announce_finished(job, value, result, backend=backend)
    return True


def _failed(job: Job, error: BaseException, result: Any, policy: Policy, *, backend: Any,
            process_id: int | None, using: str) -> bool:
    final_policy = None if isinstance(error, JobCancelledError) else policy
    outcome = _record_failure(job, error, process_id=process_id, using=using, policy=final_policy)
    if outcome != FAILED:  # retrying, or the claim was lost: the job is not finished
        if outcome is not None:
            logger.warning("dj_queue: job %s (%s) attempt %d failed with %r; retrying", job.pk,
                           job.task_path, len(job.worker_ids or []), error, extra=job_fields(job))
        return False
    _set(result, status=TaskResultStatus.FAILED, finished_at=job.finished_at or timezone.now(),
         errors=errors_of(job, None))
    task_finished.send(sender=type(backend), task_result=result)
    return False


def announce_finished(job: Job, value: Any, result: Any, *, backend: Any) -> None:
    """Mark the job's TaskResult successful and send ``task_finished`` (after the finish committed)."""
    _set(result, status=TaskResultStatus.SUCCESSFUL, finished_at=job.finished_at or timezone.now(),
         _return_value=value)
    task_finished.send(sender=type(backend), task_result=result)


def _call_task(task: Any, result: Any, job: Job, attempt: running.Attempt) -> Any:
    args = job.args or []
    if task.takes_context:
        args = [TaskContext(task_result=result), *args]
    kwargs = job.kwargs or {}
    if is_coroutine(task.func):
        return _call_coroutine(task.func, args, kwargs, attempt)
    return task.call(*args, **kwargs)


def _call_coroutine(func: Any, args: list, kwargs: dict, attempt: running.Attempt) -> Any:
    """Run a coroutine task as ``Task.call`` does (``async_to_sync``), cancellable by the watchdog."""
    import asyncio

    async def main() -> Any:
        future = asyncio.ensure_future(func(*args, **kwargs))
        attempt.bind(asyncio.get_running_loop(), future)
        return await future

    return async_to_sync(main)()


def _mark_started(job: Job, process_id: int | None, using: str) -> bool:
    """Write the at-most-once start mark; False when the claim is no longer this process's."""
    claims = ClaimedExecution.objects.using(using).filter(job_id=job.pk, process_id=process_id)
    return claims.update(started_at=timezone.now()) == 1


def _record_failure(job: Job, exc: BaseException, *, process_id: int | None, using: str,
                    policy: Policy | None) -> str | None:
    text = _format(exc)
    worker = job.worker_ids[-1] if job.worker_ids else ""
    return _with_retry(lambda: fail(job, exc, process_id=process_id, using=using, traceback_text=text,
                                    policy=policy, worker_id=worker))


def _with_retry(fn: Callable[[], Any]) -> Any:
    """Run a completion write, once more on a fresh connection if the first hit a dead one.

    Completions are idempotent (they need the claim), so a retry never records twice.
    """
    try:
        return fn()
    except DatabaseError:
        _drop_broken_connections()
        return fn()


def _drop_broken_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and not conn.is_usable():
            conn.close()


def _set(result: Any, **values: Any) -> None:
    # TaskResult is frozen; Django's own backends update it in place the same way.
    for name, value in values.items():
        object.__setattr__(result, name, value)


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
