"""Concurrency controls declared on tasks: a key template, a limit, a duration, on_conflict.

Declare them with the decorator (above or below ``@task``)::

    @task
    @concurrency(key="account:{account_id}", limit=1, duration=300, on_conflict="block")
    def sync_account(account_id): ...

or with function attributes: ``func.concurrency_key``, ``concurrency_limit``,
``concurrency_duration``, and ``on_conflict`` (the original dj_queue README's spelling) or
``concurrency_on_conflict`` (both are read; set to different values they are an error). The key template is formatted with the
enqueue arguments bound to the function's parameters (defaults included); it may also be a
callable taking the task's arguments and returning the key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from dj_queue.exceptions import EnqueueError

ON_CONFLICT = ("block", "discard")
DEFAULT_DURATION = 15 * 60
MAX_KEY_LENGTH = 255
ATTRS = ("concurrency_key", "concurrency_limit", "concurrency_duration", "concurrency_on_conflict")


@dataclass(frozen=True)
class Concurrency:
    key: str | Callable[..., str]
    limit: int
    duration: float = DEFAULT_DURATION
    on_conflict: str = "block"


def concurrency(*, key: str | Callable[..., str], limit: int = 1, duration: float = DEFAULT_DURATION,
                on_conflict: str = "block") -> Callable[[Any], Any]:
    """Declare concurrency controls on a task function (or on a ``Task``'s function)."""

    def decorate(target: Any) -> Any:
        func = getattr(target, "func", target)
        func.concurrency_key = key
        func.concurrency_limit = limit
        func.concurrency_duration = duration
        func.concurrency_on_conflict = on_conflict
        return target

    return decorate


def settings_for(task: Any) -> Concurrency | None:
    """The task's validated concurrency settings, or None when it declares none."""
    func = task.func
    values = {name: getattr(func, name, None) for name in ATTRS}
    name = getattr(task, "module_path", getattr(func, "__qualname__", repr(func)))
    values["concurrency_on_conflict"] = _on_conflict(func, values["concurrency_on_conflict"], name)
    if values["concurrency_key"] is None and values["concurrency_limit"] is None:
        if values["concurrency_on_conflict"] is not None:
            raise EnqueueError(f"task {name}: on_conflict is set but concurrency_key is not")
        return None
    if values["concurrency_key"] is None:
        raise EnqueueError(f"task {name}: concurrency_limit is set but concurrency_key is not")
    limit = values["concurrency_limit"]
    if limit is None:
        raise EnqueueError(f"task {name}: concurrency_key is set but concurrency_limit is not")
    if type(limit) is not int or limit < 1:
        raise EnqueueError(f"task {name}: concurrency_limit must be a positive int, got {limit!r}")
    duration = DEFAULT_DURATION if values["concurrency_duration"] is None else values["concurrency_duration"]
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
        raise EnqueueError(f"task {name}: concurrency_duration must be positive seconds, got {duration!r}")
    on_conflict = values["concurrency_on_conflict"] or "block"
    return Concurrency(values["concurrency_key"], limit, float(duration), on_conflict)


def _on_conflict(func: Any, value: Any, name: str) -> str | None:
    """The task's on_conflict from either spelling, validated; None when neither is set."""
    seed = getattr(func, "on_conflict", None)
    if seed is not None and value is not None and seed != value:
        raise EnqueueError(f"task {name}: on_conflict={seed!r} and concurrency_on_conflict={value!r} disagree; "
                           f"set one of them")
    value = value if value is not None else seed
    if value is not None and value not in ON_CONFLICT:
        raise EnqueueError(f"task {name}: on_conflict must be one of {ON_CONFLICT}, got {value!r}")
    return value


def resolve_key(task: Any, settings: Concurrency, args: Any, kwargs: dict) -> str:
    """The concurrency key of one call; ``EnqueueError`` when it cannot be built."""
    return format_key(task, settings.key, args, kwargs, "concurrency key")


def format_key(task: Any, template: str | Callable[..., str], args: Any, kwargs: dict, what: str) -> str:
    """A key template (or callable) applied to one call's arguments; ``EnqueueError`` when it
    cannot be built or is not a non-empty string of at most ``MAX_KEY_LENGTH`` characters."""
    name = task.module_path
    try:
        if callable(template):
            key = template(*args, **kwargs)
        else:
            key = template.format(**bound_arguments(task, args, kwargs))
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as exc:
        raise EnqueueError(f"task {name}: cannot resolve {what} {template!r}: {exc!r}") from exc
    if not isinstance(key, str) or not key.strip():
        raise EnqueueError(f"task {name}: {what} must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise EnqueueError(f"task {name}: {what} is longer than {MAX_KEY_LENGTH} characters")
    return key


def bound_arguments(task: Any, args: Any, kwargs: dict) -> dict:
    signature = inspect.signature(task.func)
    params = list(signature.parameters.values())
    if getattr(task, "takes_context", False):
        params = params[1:]  # the context is passed by the worker, not at enqueue
    bound = signature.replace(parameters=params).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)
