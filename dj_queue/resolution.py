"""Turn a stored task path back into the ``Task`` object, safely.

A job row names its task by dotted path, and anyone able to write a row could name any module.
So resolving never imports a module the application would not load itself: it imports only
inside installed apps or the ``task_modules`` allowlist (the prefix is checked first), looks
other modules up only if they are already imported, and accepts only task-framework ``Task``
objects.

Enqueueing asks ``enqueue_refusal`` whether a worker will find the task: its module must be
allowed, or hold tasks that were created while Django started (app loading imported it, so a
worker's own startup imports it too). ``remember_task`` records those modules.
"""

from __future__ import annotations

import importlib
import inspect
import sys
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


def remember_task(task: Task) -> None:
    """Note the module of a ``Task`` being created; those made while Django starts are enqueueable."""
    if not apps.ready:
        _startup_modules.add(task.func.__module__)


# Modules that defined tasks during app loading: every process running django.setup() with the
# same settings imports them, a worker included (forked children inherit this set).
_startup_modules: set[str] = set()


def enqueue_refusal(task: Task, task_modules: Iterable[str] | None = None) -> str | None:
    """Why a worker would refuse ``task``, or None when it will resolve the task's path."""
    allowlist = tuple(task_modules) if task_modules else ()
    module = task.func.__module__
    if not (module in _startup_modules or is_allowed(module, allowlist)):
        return (
            f"module {module!r} is not in an installed app or OPTIONS['task_modules'] and was not "
            f"imported while Django started, so workers would refuse it; add {module!r} to "
            "OPTIONS['task_modules'] or its app to INSTALLED_APPS"
        )
    found = _lookup(sys.modules.get(module), task.func.__qualname__.split("."))
    if not (isinstance(found, Task) and found.func is task.func):
        return (
            f"workers look the task up as {task.module_path!r} and would find "
            f"{_describe(found)} there; define it with @task at module level under its function's name"
        )
    return None


@lru_cache(maxsize=None)
def _resolve(task_path: str, allowlist: tuple[str, ...]) -> Task:
    if not isinstance(task_path, str) or "." not in task_path.strip("."):
        raise TaskResolutionError(f"dj_queue: {task_path!r} is not a dotted path to a task")
    parts = task_path.split(".")
    if not is_allowed(".".join(parts[:-1]), allowlist):
        # Outside the allowlist nothing is imported: only a task the application loaded will do.
        found = _imported_module(parts)
        obj = _lookup(*found) if found else None
        if isinstance(obj, Task):
            return obj
        raise _refusal(task_path, ".".join(parts[:-1]))
    module, attrs = _import_longest_module(task_path, allowlist)
    obj = module
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


def _imported_module(parts: list[str]) -> tuple[object, list[str]] | None:
    """The longest prefix of ``parts`` already in ``sys.modules``, with the remaining names."""
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            return module, parts[cut:]
    return None


def _lookup(obj: object, attrs: list[str]) -> object:
    # Static lookups run no code: no module __getattr__ (which may import), no descriptor.
    for attr in attrs:
        obj = inspect.getattr_static(obj, attr, None)
    return obj


def _describe(obj: object) -> str:
    return "nothing" if obj is None else f"a {type(obj).__name__}"


def _refusal(task_path: str, module_path: str) -> TaskResolutionError:
    return TaskResolutionError(
        f"dj_queue: refusing task {task_path!r}: module {module_path!r} is not in an installed app "
        "or in OPTIONS['task_modules'], and the application has loaded no task at that path"
    )


def _import_longest_module(task_path: str, allowlist: tuple[str, ...]):
    """Import the longest allowed module prefix of ``task_path``; return it and the rest."""
    parts = task_path.split(".")
    # Usually "pkg.tasks.func"; the loop also handles a task stored as a class attribute.
    for cut in range(len(parts) - 1, 0, -1):
        module_path = ".".join(parts[:cut])
        if not is_allowed(module_path, allowlist):
            raise _refusal(task_path, module_path)
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
