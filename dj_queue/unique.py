"""Unique jobs: at most one job per key while it waits or runs; a duplicate gets the existing job.

Declare it with the decorator (above or below ``@task``)::

    @task
    @unique(key="report:{account_id}", period=3600)
    def build_report(account_id): ...

or with function attributes: ``func.unique_key``, ``unique_period``, ``unique_states``
(``func.unique = True`` alone makes the task unique on all its arguments). The key is a template
formatted with the enqueue arguments, as concurrency keys are, or a callable taking them; without
a key the arguments themselves are the key. Keys are per task. The database enforces it: see
``dj_queue.operations.unique``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from dj_queue.concurrency import MAX_KEY_LENGTH, bound_arguments, format_key
from dj_queue.exceptions import EnqueueError

# Every state a job can be in, as ``states=`` names them.
STATES = ("ready", "scheduled", "blocked", "claimed", "successful", "failed")
# Waiting or running: a job that may still do the work a duplicate would do.
DEFAULT_STATES = ("ready", "scheduled", "blocked", "claimed")


@dataclass(frozen=True)
class Unique:
    key: str | Callable[..., str] | None
    period: float | None
    states: tuple[str, ...] = DEFAULT_STATES


def unique(*, key: str | Callable[..., str] | None = None, period: float | None = None,
           states: Iterable[str] = DEFAULT_STATES) -> Callable[[Any], Any]:
    """Make a task unique per ``key``: enqueueing it again while a job of the key is in one of
    ``states`` (and younger than ``period`` seconds, None for no limit) returns that job."""
    settings = _validated(key, period, states, "unique(...)")

    def decorate(target: Any) -> Any:
        func = getattr(target, "func", target)
        func.unique_key, func.unique_period, func.unique_states = settings.key, settings.period, settings.states
        func.unique = True
        return target

    return decorate


def settings_for(task: Any) -> Unique | None:
    """The task's validated unique settings, or None when it is not unique (the common case)."""
    func = task.func
    if not getattr(func, "unique", False) and getattr(func, "unique_key", None) is None:
        return None
    name = getattr(task, "module_path", repr(func))
    states = getattr(func, "unique_states", None)
    return _validated(getattr(func, "unique_key", None), getattr(func, "unique_period", None),
                      DEFAULT_STATES if states is None else states, f"task {name}")


def resolve_key(task: Any, settings: Unique, args: Any, kwargs: dict) -> str:
    """The stored key of one call: the task path and the resolved key, hashed when too long."""
    if settings.key is None:
        key = json.dumps(bound_arguments(task, args, kwargs), sort_keys=True, separators=(",", ":"))
    else:
        key = format_key(task, settings.key, args, kwargs, "unique key")
    stored = f"{task.module_path}|{key}"
    if len(stored) > MAX_KEY_LENGTH:
        stored = f"{task.module_path[:150]}|sha256:{hashlib.sha256(stored.encode()).hexdigest()}"
    return stored


def _validated(key: Any, period: Any, states: Any, where: str) -> Unique:
    if key is not None and not (callable(key) or (isinstance(key, str) and key.strip())):
        raise EnqueueError(f"{where}: unique key must be a template string or a callable, got {key!r}")
    if period is not None and (isinstance(period, bool) or not isinstance(period, (int, float)) or period <= 0):
        raise EnqueueError(f"{where}: unique period must be positive seconds or None, got {period!r}")
    if isinstance(states, str) or not isinstance(states, Iterable):
        raise EnqueueError(f"{where}: unique states must be a list of states, got {states!r}")
    states = tuple(states)
    unknown = [state for state in states if state not in STATES]
    if unknown or not states:
        raise EnqueueError(f"{where}: unique states must be some of {', '.join(STATES)}, got {states!r}")
    return Unique(key, None if period is None else float(period), states)
