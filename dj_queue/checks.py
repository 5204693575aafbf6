"""System checks for dj_queue's configuration (registered from ``DjQueueConfig.ready``).

Problems come in two kinds, each reported from one place so that none is reported twice:

- where the queue lives (app installed, ``database_alias``, the router): ``setup_checks``, which
  ``DjQueueBackend.check()`` returns; the task framework runs it for every backend;
- the options themselves (unknown keys, wrong values, recurring tasks, ``task_modules``):
  ``option_checks``, reported by the check registered here. While ``migrate`` runs the checks
  the same problems are warnings (``dj_queue.W0xx``): a queue option typo must not stop the
  tables from being created.

Where the framework does not run backend checks (the ``django_tasks`` backport without its app
installed), the registered check reports both kinds.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Any, Iterable

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string

from dj_queue.compat import USING_BACKPORT
from dj_queue.config import validate
from dj_queue.exceptions import ConfigurationError
from dj_queue.cron import schedule_error, timezone_error, timezone_suggestion
from dj_queue.operations.recurring import TASK_FIELDS, arguments_problem
from dj_queue.task_lookup import one_line, task_path_problem

ROUTER_PATH = "dj_queue.routers.DjQueueRouter"
MIGRATE_HINT = ("A warning during migrate, so that the tables can be created; manage.py check reports "
                "it as error dj_queue.E{number}, and the dj_queue runtime does not start until it is fixed.")


def backend_checks(alias: str, params: dict[str, Any], *, as_warnings: bool = False) -> list[checks.CheckMessage]:
    """Every check of the ``TASKS[alias]`` backend configured by ``params``."""
    return [*setup_checks(alias, params), *option_checks(alias, params, as_warnings=as_warnings)]


def setup_checks(alias: str, params: dict[str, Any]) -> list[checks.CheckMessage]:
    """Where the queue lives: the app is installed, ``database_alias`` exists, the router is set."""
    errors: list[checks.CheckMessage] = []
    if not apps.is_installed("dj_queue"):
        errors.append(checks.Error(
            f"TASKS[{alias!r}] uses DjQueueBackend but 'dj_queue' is not in INSTALLED_APPS.",
            hint="Add 'dj_queue' to INSTALLED_APPS and run migrate.", id="dj_queue.E001",
        ))
    try:
        options = _validated(alias, params)
    except ConfigurationError:
        return errors  # option_checks says why
    errors.extend(_database_checks(alias, options["database_alias"]))
    return errors


def option_checks(alias: str, params: dict[str, Any], *, as_warnings: bool = False) -> list[checks.CheckMessage]:
    """The options of ``TASKS[alias]``: keys and values, recurring tasks, ``task_modules``."""
    try:
        options = _validated(alias, params)
    except ConfigurationError as exc:
        found = [checks.Error(str(exc), id="dj_queue.E003")]
    else:
        found = [*_recurring_checks(alias, options), *_task_modules_checks(alias, options["task_modules"]),
                 *_reference_checks(alias, options)]
    return [_as_warning(message) for message in found] if as_warnings else found


@checks.register()
def check_dj_queue(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report the options of every dj_queue backend, and what the task framework cannot check itself."""
    framework_checks, migrating = _framework_checks_backends(), called_by_migrate()
    errors: list[checks.CheckMessage] = []
    for alias, params in _dj_queue_backends().items():
        if not framework_checks:
            errors.extend(setup_checks(alias, params))
        errors.extend(option_checks(alias, params, as_warnings=migrating))
    return errors


def called_by_migrate() -> bool:
    """True while Django's ``migrate`` command (or a subclass of it) runs the system checks."""
    from django.core.management.commands.migrate import Command as Migrate

    # Django tells a check neither which command runs it nor anything only migrate passes
    # (``databases`` is every alias for ``check`` too), so look for the command up the stack.
    frame = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Migrate):
            return True
        frame = frame.f_back
    return False


def _validated(alias: str, params: dict[str, Any]) -> dict[str, Any]:
    return validate(params.get("OPTIONS") or {}, where=f"TASKS[{alias!r}]['OPTIONS']")


def _as_warning(error: checks.CheckMessage) -> checks.CheckMessage:
    number = error.id.rpartition(".E")[2]
    return checks.Warning(error.msg, hint=MIGRATE_HINT.format(number=number), obj=error.obj,
                          id=f"dj_queue.W{number}")


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop, question or exclamation mark."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


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


def _recurring_checks(alias: str, options: dict[str, Any]) -> list[checks.CheckMessage]:
    errors = []
    for key, entry in options["recurring"].items():
        where = f"TASKS[{alias!r}]['OPTIONS']['recurring'][{key!r}]"
        problem = _recurring_problem(entry)
        if problem:
            errors.append(checks.Error(sentence(f"{where} {problem}"), id="dj_queue.E005"))
            continue
        problem = task_path_problem(entry["task_path"], options["task_modules"])
        if problem:
            errors.append(checks.Error(sentence(f"{where}: {problem}"), id="dj_queue.E006"))
    return errors


def _task_modules_checks(alias: str, task_modules: Iterable[Any] | None) -> list[checks.CheckMessage]:
    errors = []
    for entry in task_modules or ():
        where = f"TASKS[{alias!r}]['OPTIONS']['task_modules'] lists {entry!r}"
        problem = _module_problem(entry)
        if problem:
            errors.append(checks.Error(sentence(f"{where}, {problem}"), id="dj_queue.E007"))
    return errors


def _reference_checks(alias: str, options: dict[str, Any]) -> list[checks.CheckMessage]:
    """Options naming something elsewhere: a database alias, a callable's dotted path."""
    errors = []
    notify = options["notify_database_alias"]
    if notify is not None and notify not in settings.DATABASES:
        errors.append(checks.Error(
            f"TASKS[{alias!r}]['OPTIONS']['notify_database_alias'] is {notify!r}, which is not in DATABASES.",
            id="dj_queue.E008"))
    handler = options["on_thread_error"]
    if handler is not None:
        try:
            problem = None if callable(import_string(handler)) else "which is not callable"
        except Exception as exc:
            problem = f"which cannot be imported: {one_line(exc)}"
        if problem:
            errors.append(checks.Error(
                sentence(f"TASKS[{alias!r}]['OPTIONS']['on_thread_error'] is {handler!r}, {problem}"),
                id="dj_queue.E009"))
    return errors


def _module_problem(entry: Any) -> str | None:
    if not isinstance(entry, str) or not entry.strip("."):
        return "which is not a dotted module path"
    try:
        importlib.import_module(entry.strip("."))
    except Exception as exc:
        return f"which cannot be imported: {one_line(exc)}"
    return None


def _recurring_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"must be a mapping, got {type(entry).__name__}"
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
    if schedule_error(entry["schedule"]):  # valid fields, but no date matches them (February 30th)
        return f"has a schedule no date matches, {entry['schedule']!r}: it would never fire"
    problem = arguments_problem(dict(entry))
    if problem:
        return f"is invalid: {problem}"
    return _timezone_problem(entry.get("timezone"))


def _timezone_problem(name: Any) -> str | None:
    if name is None or not timezone_error(name):
        return None  # no zone: the default one
    if not isinstance(name, str) or not name.strip():
        return "needs a 'timezone' string, an IANA name such as 'Europe/Berlin'"
    return f"has an unknown timezone {name!r}{timezone_suggestion(name)}"


def valid_schedule(schedule: str) -> bool:
    """True for a croniter expression of 5 or 6 fields, or a nickname such as ``@daily``."""
    from croniter import croniter

    schedule = schedule.strip()
    if not schedule.startswith("@") and len(schedule.split()) not in (5, 6):
        return False
    return bool(croniter.is_valid(schedule))


def _dj_queue_backends() -> dict[str, dict[str, Any]]:
    found = {}
    for alias, params in (getattr(settings, "TASKS", {}) or {}).items():
        try:
            backend_class = import_string(params.get("BACKEND", ""))
        except Exception:
            continue  # the task framework reports a backend it cannot import
        # The marker, not issubclass: the backend module imports this one (backend.check()).
        if isinstance(backend_class, type) and getattr(backend_class, "is_dj_queue_backend", False):
            found[alias] = params
    return found


def _framework_checks_backends() -> bool:
    """True when the task framework's own check (which calls ``backend.check()``) is registered."""
    module = sys.modules.get("django_tasks.checks" if USING_BACKPORT else "django.tasks.checks")
    check = getattr(module, "check_tasks", None)
    return check is not None and check in registry.registered_checks


def missing_tables_error(database: str) -> ImproperlyConfigured | None:
    """After a database error on ``database``: the "run migrate" error when it answers but lacks
    dj_queue's tables (never migrated there), else None (keep the original error)."""
    from dj_queue.models import Job

    try:
        with connections[database].cursor() as cursor:
            if Job._meta.db_table in connections[database].introspection.table_names(cursor):
                return None
    except DatabaseError:  # the database itself is the problem
        return None
    return ImproperlyConfigured(f"dj_queue's tables are not on database {database!r}: run "
                                f"`python manage.py migrate --database {database}` first")
