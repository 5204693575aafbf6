"""What happens when an attempt fails, hangs or dies: retries, timeouts, delivery, exactly once.

Declared per task with decorators (above or below ``@task``), in the same two forms as
concurrency controls::

    @task
    @retry(max_attempts=5, backoff=30, retry_on=(ConnectionError,))
    @timeout(60)
    def sync_account(account_id): ...

or with function attributes: ``func.retry_max_attempts``, ``retry_backoff``, ``retry_on``,
``timeout``, ``delivery``, ``crash_limit``, ``exactly_once``. What a task leaves unset comes
from the backend's ``OPTIONS`` (``retry``, ``timeout``, ``delivery``, ``crash_limit``).
"""

from __future__ import annotations

import inspect
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Union

from django.db import DEFAULT_DB_ALIAS
from django.utils.module_loading import import_string

from dj_queue.config import DELIVERIES, cached_options
from dj_queue.exceptions import EnqueueError, TaskResolutionError
from dj_queue.resolution import resolve_task

Backoff = Union[float, int, Callable[[int], float], None]

# The default backoff: BASE * 2 ** (attempt - 1) seconds, at most CAP, with "equal jitter"
# (a random point in the upper half) so jobs that failed together do not all retry together.
BACKOFF_BASE, BACKOFF_CAP = 5.0, 600.0


@dataclass(frozen=True)
class Policy:
    """The failure handling of one task, after defaults are applied."""

    max_attempts: int = 1
    backoff: Backoff = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    timeout: float | None = None
    delivery: str = DELIVERIES[0]
    crash_limit: int = 3
    # The database alias the task body's transaction runs on, or None when not exactly-once.
    exactly_once: str | None = None

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """True when a failed ``attempt`` (1-based) of this task is to be run again."""
        return attempt < self.max_attempts and isinstance(error, self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt``."""
        return backoff_delay(self.backoff, attempt)


def backoff_delay(backoff: Backoff, attempt: int) -> float:
    if backoff is None:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
        return random.uniform(ceiling / 2, ceiling)
    if callable(backoff):
        return max(0.0, float(backoff(attempt)))
    return max(0.0, float(backoff))


def retry(*, max_attempts: int = 3, backoff: Backoff = None,
          retry_on: tuple[type[BaseException], ...] | type[BaseException] = (Exception,)) -> Callable[[Any], Any]:
    """Run a failed task again, up to ``max_attempts`` attempts in all.

    ``backoff``: seconds between attempts (a number), a callable ``attempt -> seconds``, or None
    for exponential backoff with jitter (5 s, 10 s, 20 s ... at most 10 minutes). Only errors that
    are instances of ``retry_on`` are retried.
    """
    retry_on = _exception_tuple(retry_on, "retry(retry_on=...)")
    _check_attempts(max_attempts, "retry(max_attempts=...)")
    _check_backoff(backoff, "retry(backoff=...)")

    def decorate(target: Any) -> Any:
        func = getattr(target, "func", target)
        func.retry_max_attempts, func.retry_backoff, func.retry_on = max_attempts, backoff, retry_on
        return target

    return decorate


def timeout(seconds: float) -> Callable[[Any], Any]:
    """End an attempt that runs longer than ``seconds`` with ``JobTimeoutError``."""
    _check_seconds(seconds, "timeout(...)")

    def decorate(target: Any) -> Any:
        getattr(target, "func", target).timeout = seconds
        return target

    return decorate


def delivery(mode: str, *, crash_limit: int | None = None) -> Callable[[Any], Any]:
    """Choose what happens to this task's jobs when the process running them dies."""
    if mode not in DELIVERIES:
        raise EnqueueError(f"delivery must be one of {', '.join(DELIVERIES)}, got {mode!r}")
    if crash_limit is not None:
        _check_attempts(crash_limit, "delivery(crash_limit=...)")

    def decorate(target: Any) -> Any:
        func = getattr(target, "func", target)
        func.delivery = mode
        if crash_limit is not None:
            func.crash_limit = crash_limit
        return target

    return decorate


def exactly_once(target: Any = None, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Run the task body in a transaction on ``using`` that also records the job's completion.

    For tasks whose only effects are writes to that database: a crash rolls both back, and the
    job runs again as if it never ran. ``using`` must be the database holding the queue's tables.
    Use bare (``@exactly_once``) or with an alias (``@exactly_once(using="default")``).
    """

    def decorate(item: Any) -> Any:
        getattr(item, "func", item).exactly_once = using
        return item

    return decorate(target) if target is not None else decorate


def policy_for(task: Any, options: dict[str, Any]) -> Policy:
    """The task's policy: its own settings over the backend's ``OPTIONS``; ``EnqueueError`` if invalid."""
    func = getattr(task, "func", task)
    name = getattr(task, "module_path", getattr(func, "__qualname__", repr(func)))
    defaults = options["retry"]
    max_attempts = getattr(func, "retry_max_attempts", None) or defaults["max_attempts"]
    _check_attempts(max_attempts, f"task {name}: retry max_attempts")
    backoff = getattr(func, "retry_backoff", defaults["backoff"])
    if isinstance(backoff, str):
        backoff = _import(backoff, f"task {name}: retry backoff")
    retry_on = _exception_tuple(getattr(func, "retry_on", None) or defaults["retry_on"] or Exception,
                                f"task {name}: retry_on")
    seconds = getattr(func, "timeout", options["timeout"])
    if seconds is not None:
        _check_seconds(seconds, f"task {name}: timeout")
    mode = getattr(func, "delivery", None) or options["delivery"]
    if mode not in DELIVERIES:
        raise EnqueueError(f"task {name}: delivery must be one of {', '.join(DELIVERIES)}, got {mode!r}")
    crash_limit = getattr(func, "crash_limit", None)
    if crash_limit is None:
        crash_limit = options["crash_limit"]
    _check_attempts(crash_limit, f"task {name}: crash_limit")
    once = getattr(func, "exactly_once", None)
    return Policy(max_attempts, backoff, tuple(retry_on), seconds, mode, int(crash_limit),
                  (DEFAULT_DB_ALIAS if once is True else once) or None)


def check_exactly_once(task: Any, policy: Policy, queue_database: str) -> None:
    """``EnqueueError`` when an exactly-once task's database is not the queue's."""
    if policy.exactly_once is not None and policy.exactly_once != queue_database:
        raise EnqueueError(
            f"task {task.module_path} is exactly_once on database {policy.exactly_once!r}, but its queue "
            f"lives on {queue_database!r}: the task's writes and the job's completion must share one "
            f"transaction, so use @exactly_once(using={queue_database!r}) or drop exactly_once"
        )


def _exception_tuple(value: Any, what: str) -> tuple[type[BaseException], ...]:
    """Exception classes from a class, a dotted path, or a list or tuple of them."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    classes = tuple(_import(item, what) if isinstance(item, str) else item for item in items)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise EnqueueError(f"{what} must be exception classes (or dotted paths to them), got {value!r}")
    return classes


def _check_backoff(value: Any, what: str) -> None:
    """None, seconds (a finite number >= 0), a dotted path, or a callable taking the attempt number."""
    if value is None or isinstance(value, str):
        return
    if callable(value):
        try:
            inspect.signature(value).bind(1)
        except TypeError:
            raise EnqueueError(f"{what}: a callable backoff must take one argument (the attempt number), "
                               f"got {value!r}") from None
        except ValueError:  # no signature to read (some builtins): trust it
            pass
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise EnqueueError(f"{what} must be seconds >= 0, a callable or None, got {value!r}")


def _import(path: str, what: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise EnqueueError(f"{what}: cannot import {path!r} ({exc})") from None


def _check_attempts(value: Any, what: str) -> None:
    if type(value) is not int or value < 1:
        raise EnqueueError(f"{what} must be a positive int, got {value!r}")


def _check_seconds(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise EnqueueError(f"{what} must be positive seconds, got {value!r}")


def policy_for_job(job: Any) -> Policy:
    """The policy of a stored job's task, or the backend's defaults when its task no longer resolves."""
    options = cached_options(job.backend_alias)
    try:
        task: Any = resolve_task(job.task_path, options.get("task_modules"))
    except TaskResolutionError:
        task = None
    try:
        return policy_for(task, options)
    except EnqueueError:  # a task whose settings became invalid: fall back to the backend's
        return policy_for(None, options)
