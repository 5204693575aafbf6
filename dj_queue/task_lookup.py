"""Explain why a configured task path names no task, and suggest the task that was probably meant.

Used where a person typed the path (``OPTIONS["recurring"]``), so the answer is a sentence, not a
traceback: the system check, the ``dj_queue`` command and the scheduler all report it as one line.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from typing import Iterable

from django.apps import apps

from dj_queue.compat import Task
from dj_queue.exceptions import TaskResolutionError
from dj_queue.resolution import is_allowed, resolve_task
from dj_queue.serialization import describe_type

_MISSING = object()
NAME_CUTOFF, MODULE_CUTOFF = 0.6, 0.5


def task_path_problem(task_path: object, task_modules: Iterable[str] | None = None) -> str | None:
    """Why ``task_path`` names no task a worker would run, with the nearest known path; None if it does."""
    if not isinstance(task_path, str):
        return f"task_path must be a string, got {describe_type(task_path)}"
    try:
        resolve_task(task_path, task_modules)
        return None
    except TaskResolutionError:
        pass
    close = nearest(task_path, known_task_paths(task_modules, also=task_path))
    hint = f"; did you mean {close!r}?" if close else ""
    return f"task_path {task_path!r} does not resolve: {_reason(task_path, task_modules)}{hint}"


def known_task_paths(task_modules: Iterable[str] | None = None, *, also: str = "") -> list[str]:
    """Paths of the tasks in every installed app's ``tasks`` module, the ``task_modules`` and
    the module ``also`` names (when they import)."""
    names = [f"{config.name}.tasks" for config in apps.get_app_configs()]
    names.extend(str(name).strip(".") for name in task_modules or () if str(name).strip("."))
    if "." in also:
        names.append(also.rpartition(".")[0])
    found: list[str] = []
    for name in dict.fromkeys(names):
        # The path may come from a database row: never import outside the allowlist.
        module = _import_quietly(name) if is_allowed(name, task_modules) else None
        for attr, value in vars(module).items() if module is not None else ():
            if isinstance(value, Task):
                found.append(f"{name}.{attr}")
    return found


def nearest(task_path: str, candidates: list[str]) -> str | None:
    """The candidate most like ``task_path``: a close task name first, then a close module."""
    module, _, name = task_path.rpartition(".")
    best, best_score = None, (0.0, 0.0)
    for candidate in candidates:
        other_module, _, other_name = candidate.rpartition(".")
        # Scored apart: compared whole, paths sharing a long module prefix all look alike.
        score = (_likeness(name, other_name), _likeness(module, other_module))
        if score[0] >= NAME_CUTOFF and score[1] >= MODULE_CUTOFF and score > best_score and candidate != task_path:
            best, best_score = candidate, score
    return best


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _import_quietly(name: str):
    # Suggestions are best effort: a module that is missing or fails to import offers none.
    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except Exception:
        return None


def _reason(task_path: str, task_modules: Iterable[str] | None) -> str:
    module_path, _, name = task_path.rpartition(".")
    if not module_path or not name:
        return "it is not a dotted path to a task"
    if not is_allowed(module_path, task_modules):
        return f"module {module_path!r} is not in an installed app or in OPTIONS['task_modules']"
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name and (module_path + ".").startswith(exc.name + "."):
            return f"there is no module {module_path!r}"
        return f"importing module {module_path!r} failed with {one_line(exc)}"
    except Exception as exc:
        return f"importing module {module_path!r} failed with {one_line(exc)}"
    value = getattr(module, name, _MISSING)
    if value is _MISSING:
        return f"module {module_path!r} has no attribute {name!r}"
    if not isinstance(value, Task):
        return f"it is {describe_type(value)}, not a task (decorate it with @task)"
    return "it is outside the modules a worker may import"


def one_line(exc: BaseException) -> str:
    """``ExceptionType: first line of the message``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
