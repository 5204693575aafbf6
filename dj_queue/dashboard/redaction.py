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
    positions = _positions(job.backend_alias, job.task_path, keys)
    args = [MASK if index in positions else mask(value, keys) for index, value in enumerate(job.args or [])]
    return args, mask(job.kwargs, keys)


def secret_keys(backend_alias: str, task_path: str) -> frozenset[str]:
    """The lower-cased key names to hide for ``task_path`` jobs of ``backend_alias``."""
    return backend_keys(backend_alias) | {str(key).lower() for key in _task_keys(backend_alias, task_path)}


def backend_keys(backend_alias: str) -> frozenset[str]:
    """The lower-cased ``redact_keys`` of a backend (what a workflow's workspace is masked by)."""
    return frozenset(str(key).lower() for key in _option(backend_alias, "redact_keys") or ())


def mask(value: Any, keys: frozenset[str]) -> Any:
    """A copy of ``value`` whose dict entries under ``keys`` (at any depth) read ``***``."""
    if isinstance(value, dict):
        return {k: MASK if str(k).lower() in keys else mask(v, keys) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(item, keys) for item in value]
    return value


def _option(backend_alias: str, name: str) -> Any:
    try:
        return cached_options(backend_alias).get(name)
    except (ConfigurationError, KeyError, TypeError):  # an alias no longer in TASKS
        return None


def _task_keys(backend_alias: str, task_path: str) -> tuple[str, ...]:
    task = _task(backend_alias, task_path)
    keys = getattr(getattr(task, "func", None), "redact", None) or getattr(task, "redact", None) or ()
    return (keys,) if isinstance(keys, str) else tuple(keys)


def _positions(backend_alias: str, task_path: str, keys: frozenset[str]) -> set[int]:
    """Indexes of the positional parameters whose names are secret."""
    return {index for index, name in enumerate(_parameters(_task(backend_alias, task_path))) if name.lower() in keys}


@lru_cache(maxsize=256)
def _parameters(task: Any) -> tuple[str, ...]:
    function = getattr(task, "func", None)
    if function is None:
        return ()
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in parameters if p.kind in positional]
    # A task taking its context receives it first; the stored args start after it.
    if names and getattr(task, "takes_context", False):
        names = names[1:]
    return tuple(names)


def _task(backend_alias: str, task_path: str) -> Any:
    """The task, found as the backend's workers find it (``task_modules`` included), or None.

    ``resolve_task`` caches what it finds; a path it cannot load now is asked again next time
    (a module imported later, a deploy), never remembered as having no secrets.
    """
    try:
        return resolve_task(task_path, _option(backend_alias, "task_modules"))
    except (TaskResolutionError, ImportError, ValueError, TypeError):
        return None  # the dashboard shows jobs of tasks this process cannot load
