"""Per-task hooks: a veto before enqueue (``should_enqueue``) and a callback on final failure
(``on_failure``).

    @task
    @should_enqueue(lambda account_id: Account.objects.filter(pk=account_id, active=True).exists())
    @on_failure(alert_ops)
    def sync_account(account_id): ...

or with function attributes: ``func.should_enqueue``, ``func.on_failure``. Plugins veto through the
``dj_queue_should_enqueue`` hookspec. Exact semantics are in ``docs/tasks.md`` ("Per-task hooks").
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from dj_queue import plugins
from dj_queue.exceptions import EnqueueVetoed

logger = logging.getLogger("dj_queue.task_hooks")


def should_enqueue(check: Callable[..., Any]) -> Callable[[Any], Any]:
    """Veto enqueues of this task: ``check(*args, **kwargs)`` returning a falsy value refuses
    the call with ``EnqueueVetoed`` before anything is written."""
    if not callable(check):
        raise TypeError(f"should_enqueue needs a callable, got {check!r}")

    def decorate(target: Any) -> Any:
        getattr(target, "func", target).should_enqueue = check
        return target

    return decorate


def on_failure(callback: Callable[[Any, BaseException], Any]) -> Callable[[Any], Any]:
    """Call ``callback(task_result, error)`` once a job of this task ended FAILED for good."""
    if not callable(callback):
        raise TypeError(f"on_failure needs a callable, got {callback!r}")

    def decorate(target: Any) -> Any:
        getattr(target, "func", target).on_failure = callback
        return target

    return decorate


def has_checks(task: Any) -> bool:
    """Whether enqueues of ``task`` have anything to ask (bulk enqueue asks once per task)."""
    if getattr(task.func, "should_enqueue", None) is not None:
        return True
    return bool(plugins.get_plugin_manager().hook.dj_queue_should_enqueue.get_hookimpls())


def check_enqueue(task: Any, backend_alias: str, args: Any, kwargs: dict) -> None:
    """Raise ``EnqueueVetoed`` when the task's ``should_enqueue`` or a plugin refuses this call.

    Runs before the enqueue writes anything (and outside its transaction); an exception raised
    by a check reaches the caller unchanged.
    """
    check = getattr(task.func, "should_enqueue", None)
    if check is not None and not check(*args, **kwargs):
        raise EnqueueVetoed(f"dj_queue: {task.module_path}.should_enqueue refused this call; nothing was enqueued")
    hook = plugins.get_plugin_manager().hook.dj_queue_should_enqueue
    if not hook.get_hookimpls():
        return
    answers = hook(backend_alias=backend_alias, task=task, args=list(args), kwargs=dict(kwargs))
    if any(answer is False for answer in answers):
        raise EnqueueVetoed(f"dj_queue: a dj_queue_should_enqueue plugin refused {task.module_path}; "
                            f"nothing was enqueued")


def run_on_failure(job: Any, error: BaseException) -> None:
    """Call the failed job's task ``on_failure`` callback, if any; log what it raises."""
    from dj_queue.compat import task_backends
    from dj_queue.results import task_for

    try:
        backend = task_backends[job.backend_alias]
        task = task_for(job, backend)
        callback = getattr(task.func, "on_failure", None)
        if callback is None:
            return
        callback(backend.get_result(str(job.pk)), error)
    except Exception:
        logger.exception("dj_queue: on_failure callback of job %s (%s) failed; the job stays FAILED",
                         job.pk, job.task_path)
