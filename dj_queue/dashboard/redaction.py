"""Argument redaction: values of secret keys are shown as ``***`` on every dashboard and admin page.

Which keys are secret: the backend's ``redact_keys`` option (for every task) plus the task's own
``redact`` attribute (``send_receipt.func.redact = ["card_number"]``, or on the ``Task``). A key
matches, case-insensitively, a keyword argument, a key of any dict nested in the arguments, or the
name of a positional parameter of the task function (so ``charge(4111..., "x")`` hides the card
number too). Only what is shown is redacted: the stored job keeps its arguments.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from dj_queue.config import cached_options
from dj_queue.exceptions import ConfigurationError, TaskResolutionError
from dj_queue.resolution import resolve_task

MASK = "***"


def redacted_call(job: Any) -> tuple[Any, Any]:
    """``(args, kwargs)`` of a job (or recurring task) with the secret values masked."""
    keys = secret_keys(job.backend_alias, job.task_path)
    if not keys:
        return job.args, job.kwargs
    positions = _positions(job.task_path, keys)
    args = [MASK if index in positions else mask(value, keys) for index, value in enumerate(job.args or [])]
    return args, mask(job.kwargs, keys)


def secret_keys(backend_alias: str, task_path: str) -> frozenset[str]:
    """The lower-cased key names to hide for ``task_path`` jobs of ``backend_alias``."""
    try:
        configured = cached_options(backend_alias).get("redact_keys") or ()
    except (ConfigurationError, KeyError, TypeError):  # an alias no longer in TASKS
        configured = ()
    return frozenset(str(key).lower() for key in (*configured, *_task_keys(task_path)))


def mask(value: Any, keys: frozenset[str]) -> Any:
    """A copy of ``value`` whose dict entries under ``keys`` (at any depth) read ``***``."""
    if isinstance(value, dict):
        return {k: MASK if str(k).lower() in keys else mask(v, keys) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(item, keys) for item in value]
    return value


@lru_cache(maxsize=256)
def _task_keys(task_path: str) -> tuple[str, ...]:
    function = _function(task_path)
    keys = getattr(function, "redact", None) or getattr(_task(task_path), "redact", None) or ()
    return (keys,) if isinstance(keys, str) else tuple(keys)


def _positions(task_path: str, keys: frozenset[str]) -> set[int]:
    """Indexes of the positional parameters whose names are secret."""
    return {index for index, name in enumerate(_parameters(task_path)) if name.lower() in keys}


@lru_cache(maxsize=256)
def _parameters(task_path: str) -> tuple[str, ...]:
    function = _function(task_path)
    if function is None:
        return ()
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in parameters if p.kind in positional]
    # A task taking its context receives it first; the stored args start after it.
    if names and getattr(_task(task_path), "takes_context", False):
        names = names[1:]
    return tuple(names)


def _task(task_path: str) -> Any:
    try:
        return resolve_task(task_path)
    except (TaskResolutionError, ImportError, ValueError):
        return None  # the dashboard shows jobs of tasks this process cannot load


def _function(task_path: str) -> Any:
    task = _task(task_path)
    return getattr(task, "func", None)
