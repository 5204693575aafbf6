"""Turn a stored task path back into the ``Task`` object, safely.

A job row names its task by dotted path, and anyone able to write a row could name any module.
So a path is resolved only inside installed apps or the ``task_modules`` allowlist, the prefix is
checked before anything is imported, and only task-framework ``Task`` objects are accepted.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Iterable

from django.apps import apps

from dj_queue.compat import Task
from dj_queue.exceptions import TaskResolutionError
from dj_queue.serialization import describe_type


def task_path_for(task: Task) -> str:
    """The dotted path a job stores for ``task``."""
    return task.module_path


def resolve_task(task_path: str, task_modules: Iterable[str] | None = None) -> Task:
    """Return the ``Task`` at ``task_path`` or raise ``TaskResolutionError``.

    Results are cached for the life of the process: resolving is on every job's path.
    """
    allowlist = tuple(task_modules) if task_modules else ()
    return _resolve(task_path, allowlist)


def is_allowed(module_path: str, task_modules: Iterable[str] | None = None) -> bool:
    """True when ``module_path`` lies in an installed app or under a ``task_modules`` prefix."""
    prefixes = [config.name for config in apps.get_app_configs()]
    prefixes.extend(p.rstrip(".") for p in task_modules or () if p.strip("."))
    return any(module_path == p or module_path.startswith(p + ".") for p in prefixes)


@lru_cache(maxsize=None)
def _resolve(task_path: str, allowlist: tuple[str, ...]) -> Task:
    if not isinstance(task_path, str) or "." not in task_path.strip("."):
        raise TaskResolutionError(f"dj_queue: {task_path!r} is not a dotted path to a task")
    module, attrs = _import_longest_module(task_path, allowlist)
    obj: object = module
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise TaskResolutionError(
                f"dj_queue: cannot resolve task {task_path!r}: {obj!r} has no attribute {attr!r}"
            ) from None
    if not isinstance(obj, Task):
        raise TaskResolutionError(
            f"dj_queue: {task_path!r} is {describe_type(obj)}, not a task (decorate it with @task)"
        )
    return obj


def _import_longest_module(task_path: str, allowlist: tuple[str, ...]):
    """Import the longest allowed module prefix of ``task_path``; return it and the rest."""
    parts = task_path.split(".")
    # Usually "pkg.tasks.func"; the loop also handles a task stored as a class attribute.
    for cut in range(len(parts) - 1, 0, -1):
        module_path = ".".join(parts[:cut])
        if not is_allowed(module_path, allowlist):
            raise TaskResolutionError(
                f"dj_queue: refusing task {task_path!r}: module {module_path!r} is not in an "
                "installed app or in OPTIONS['task_modules']"
            )
        try:
            return importlib.import_module(module_path), parts[cut:]
        except ModuleNotFoundError as exc:
            # Missing itself (or a parent of it): try a shorter prefix. Missing something it
            # imports: a real error in the task's module.
            if not exc.name or not (module_path + ".").startswith(exc.name + "."):
                raise _import_failed(task_path, exc) from exc
        except Exception as exc:
            raise _import_failed(task_path, exc) from exc
    raise TaskResolutionError(f"dj_queue: cannot resolve task {task_path!r}: no such module")


def _import_failed(task_path: str, exc: BaseException) -> TaskResolutionError:
    return TaskResolutionError(
        f"dj_queue: cannot resolve task {task_path!r}: importing it failed with "
        f"{type(exc).__name__}: {exc}"
    )
