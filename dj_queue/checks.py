"""System checks for dj_queue's configuration (registered from ``DjQueueConfig.ready``).

``DjQueueBackend.check()`` returns ``backend_checks`` for its alias; the task framework runs it for
every backend. A backend whose options are invalid cannot be built at all, so the check registered
here reports those, and runs the full per-backend checks where the framework would not (the
``django_tasks`` backport runs backend checks only when its app is installed).
"""

from __future__ import annotations

import difflib

import sys
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.checks.registry import registry
from django.utils.module_loading import import_string

from dj_queue.compat import USING_BACKPORT
from dj_queue.config import validate
from dj_queue.exceptions import ConfigurationError

ROUTER_PATH = "dj_queue.routers.DjQueueRouter"


def backend_checks(alias: str, params: dict[str, Any]) -> list[checks.CheckMessage]:
    """Every check of the ``TASKS[alias]`` backend configured by ``params``."""
    errors: list[checks.CheckMessage] = []
    if not apps.is_installed("dj_queue"):
        errors.append(checks.Error(
            f"TASKS[{alias!r}] uses DjQueueBackend but 'dj_queue' is not in INSTALLED_APPS.",
            hint="Add 'dj_queue' to INSTALLED_APPS and run migrate.", id="dj_queue.E001",
        ))
    try:
        options = validate(params.get("OPTIONS") or {}, where=f"TASKS[{alias!r}]['OPTIONS']")
    except ConfigurationError as exc:
        return [*errors, _options_error(exc)]
    errors.extend(_database_checks(alias, options["database_alias"]))
    errors.extend(_recurring_checks(alias, options["recurring"]))
    return errors


@checks.register()
def check_dj_queue(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report dj_queue backends the task framework cannot check itself."""
    framework_checks = _framework_checks_backends()
    errors: list[checks.CheckMessage] = []
    for alias, params in _dj_queue_backends().items():
        if not framework_checks:
            errors.extend(backend_checks(alias, params))
            continue
        try:
            validate(params.get("OPTIONS") or {}, where=f"TASKS[{alias!r}]['OPTIONS']")
        except ConfigurationError as exc:
            errors.append(_options_error(exc))
    return errors


def _options_error(exc: ConfigurationError) -> checks.Error:
    return checks.Error(str(exc), id="dj_queue.E003")


def _database_checks(alias: str, database_alias: str) -> list[checks.CheckMessage]:
    if database_alias not in settings.DATABASES:
        return [checks.Error(
            f"TASKS[{alias!r}]['OPTIONS']['database_alias'] is {database_alias!r}, "
            "which is not in DATABASES.",
            id="dj_queue.E004",
        )]
    if database_alias != "default" and not _router_installed():
        return [checks.Error(
            f"TASKS[{alias!r}] keeps its queue on database {database_alias!r} but {ROUTER_PATH} "
            "is not in DATABASE_ROUTERS.",
            hint=f"Add {ROUTER_PATH!r} to DATABASE_ROUTERS.", id="dj_queue.E002",
        )]
    return []


def _router_installed() -> bool:
    from dj_queue.routers import DjQueueRouter

    for router in getattr(settings, "DATABASE_ROUTERS", []):
        if router == ROUTER_PATH or isinstance(router, DjQueueRouter):
            return True
        if isinstance(router, type) and issubclass(router, DjQueueRouter):
            return True
    return False


def _recurring_checks(alias: str, recurring: dict[str, Any]) -> list[checks.CheckMessage]:
    errors = []
    for key, entry in recurring.items():
        problem = _recurring_problem(entry)
        if problem:
            errors.append(checks.Error(
                f"TASKS[{alias!r}]['OPTIONS']['recurring'][{key!r}] {problem}.", id="dj_queue.E005",
            ))
    return errors


def _recurring_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"must be a mapping, got {type(entry).__name__}"
    from dj_queue.operations.recurring import TASK_FIELDS

    unknown = sorted(set(entry) - set(TASK_FIELDS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], TASK_FIELDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid fields: {', '.join(TASK_FIELDS)}"
        return f"has unknown field {unknown[0]!r}{hint}"
    for required in ("task_path", "schedule"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            return f"needs a {required!r} string"
    if not valid_schedule(entry["schedule"]):
        return f"has an invalid cron schedule {entry['schedule']!r} (5 or 6 fields, or @hourly etc.)"
    return None


def valid_schedule(schedule: str) -> bool:
    """True for a croniter expression of 5 or 6 fields, or a nickname such as ``@daily``."""
    from croniter import croniter

    schedule = schedule.strip()
    if not schedule.startswith("@") and len(schedule.split()) not in (5, 6):
        return False
    return bool(croniter.is_valid(schedule))


def _dj_queue_backends() -> dict[str, dict[str, Any]]:
    from dj_queue.backend import DjQueueBackend

    found = {}
    for alias, params in (getattr(settings, "TASKS", {}) or {}).items():
        try:
            backend_class = import_string(params.get("BACKEND", ""))
        except Exception:
            continue  # the task framework reports a backend it cannot import
        if isinstance(backend_class, type) and issubclass(backend_class, DjQueueBackend):
            found[alias] = params
    return found


def _framework_checks_backends() -> bool:
    """True when the task framework's own check (which calls ``backend.check()``) is registered."""
    module = sys.modules.get("django_tasks.checks" if USING_BACKPORT else "django.tasks.checks")
    check = getattr(module, "check_tasks", None)
    return check is not None and check in registry.registered_checks
