"""System checks for dj_queue's configuration."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import override_settings

from dj_queue.checks import backend_checks, check_dj_queue, valid_schedule

BACKEND = "dj_queue.backend.DjQueueBackend"
ROOT = Path(__file__).resolve().parent.parent


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def params(**options) -> dict:
    return {"BACKEND": BACKEND, "QUEUES": [], "OPTIONS": options}


def test_the_test_settings_pass():
    assert backend_checks("default", settings.TASKS["default"]) == []
    assert check_dj_queue() == []


def test_the_check_is_registered_with_django():
    assert check_dj_queue in checks.registry.registry.registered_checks


def test_dj_queue_missing_from_installed_apps():
    apps_without = [a for a in settings.INSTALLED_APPS if a != "dj_queue"]
    with override_settings(INSTALLED_APPS=apps_without):
        messages = backend_checks("default", params())
    assert ids(messages) == ["dj_queue.E001"]
    assert "INSTALLED_APPS" in messages[0].msg


def test_unknown_options_are_errors_suggesting_the_nearest_key():
    messages = backend_checks("default", params(wokers=[]))
    assert ids(messages) == ["dj_queue.E003"]
    assert messages[0].msg == "dj_queue: TASKS['default']['OPTIONS']: unknown option 'wokers'; did you mean 'workers'?"
    assert ids(backend_checks("default", params(listen_notify="yes"))) == ["dj_queue.E003"]


def test_invalid_options_are_reported_by_the_registered_check():
    tasks = {"default": settings.TASKS["default"], "broken": params(shutdown_timout=3)}
    with override_settings(TASKS=tasks):
        messages = check_dj_queue()
    assert ids(messages) == ["dj_queue.E003"]
    assert messages[0].msg == TYPO.replace("'default'", "'broken'")


def test_other_backends_are_ignored():
    tasks = {**settings.TASKS, "dummy": {"BACKEND": "django.tasks.backends.dummy.DummyBackend",
                                         "OPTIONS": {"anything": 1}}}
    with override_settings(TASKS=tasks):
        assert check_dj_queue() == []


def test_a_database_alias_missing_from_databases():
    messages = backend_checks("default", params(database_alias="queue"))
    assert ids(messages) == ["dj_queue.E004"]
    assert "'queue'" in messages[0].msg


def test_a_separate_database_needs_the_router(monkeypatch):
    # Only the alias's presence is read; nothing connects to it.
    monkeypatch.setitem(settings.DATABASES, "queue", settings.DATABASES["default"])
    with override_settings(DATABASE_ROUTERS=[]):
        assert ids(backend_checks("default", params(database_alias="queue"))) == ["dj_queue.E002"]
    with override_settings(DATABASE_ROUTERS=["dj_queue.routers.DjQueueRouter"]):
        assert backend_checks("default", params(database_alias="queue")) == []


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"task_path": "tests.tasks_app.tasks.noop", "schedule": "every minute"}, "invalid cron schedule"),
        ({"task_path": "tests.tasks_app.tasks.noop", "schedule": "61 * * * *"}, "invalid cron schedule"),
        ({"task_path": "tests.tasks_app.tasks.noop", "schedule": "* * * *"}, "invalid cron schedule"),
        ({"task_path": "tests.tasks_app.tasks.noop", "schedule": "0 0 * * * * 2030"}, "invalid cron schedule"),
        ({"task_path": "tests.tasks_app.tasks.noop"}, "needs a 'schedule'"),
        ({"schedule": "* * * * *"}, "needs a 'task_path'"),
        ("* * * * *", "must be a mapping"),
        ({"task_path": "tests.tasks_app.tasks.noop", "schedule": "0 0 30 2 *"},
         "has a schedule no date matches, '0 0 30 2 *': it would never fire"),
        ({"task_path": "tests.tasks_app.tasks.add", "schedule": "@daily", "args": "12"},
         "is invalid: args must be a list, got str '12'"),
        ({"task_path": "tests.tasks_app.tasks.add", "schedule": "@daily", "args": [datetime.date(2026, 1, 1)]},
         "is invalid: args"),
        ({"task_path": "tests.tasks_app.tasks.add", "schedule": "@daily", "priority": "5"},
         "is invalid: priority must be an int"),
    ],
)
def test_invalid_recurring_entries_name_their_key(entry, words):
    messages = backend_checks("default", params(recurring={"nightly": entry}))
    assert ids(messages) == ["dj_queue.E005"]
    assert "['nightly']" in messages[0].msg and words in messages[0].msg


def test_valid_schedules():
    recurring = {
        "five": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "*/5 * * * *"},
        "six": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "0 12 * * MON 30"},
        "nick": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "@daily"},
    }
    assert backend_checks("default", params(recurring=recurring)) == []
    assert not valid_schedule("") and not valid_schedule("@sometimes")


def test_the_backend_check_returns_its_own_messages():
    from dj_queue.backend import DjQueueBackend

    backend = DjQueueBackend("default", params(database_alias="nowhere"))
    assert ids(backend.check()) == ["dj_queue.E004"]
    # Option problems are the registered check's: the framework's call of backend.check() must
    # not report them a second time.
    assert DjQueueBackend("default", params(shutdown_timout=3)).check() == []


def test_a_recurring_entry_with_an_unknown_field_names_the_nearest_one():
    from dj_queue.checks import _recurring_problem

    problem = _recurring_problem({"task_path": "tests.tasks_app.tasks.add", "schedule": "* * * * *", "arg": [1]})
    assert problem == "has unknown field 'arg'; did you mean 'args'?"
    messages = backend_checks("default", params(recurring={"x": {"task_path": NOOP, "schedul": "@daily"}}))
    # One question mark, no full stop after it.
    assert [m.msg for m in messages] == [
        "TASKS['default']['OPTIONS']['recurring']['x'] has unknown field 'schedul'; did you mean 'schedule'?"
    ]


NOOP = "tests.tasks_app.tasks.noop"
RECURRING = "TASKS['default']['OPTIONS']['recurring']['nightly']"


@pytest.mark.parametrize(("task_path", "problem"), [
    ("tests.tasks_app.tasks.nopp", "module 'tests.tasks_app.tasks' has no attribute 'nopp'; "
                                   "did you mean 'tests.tasks_app.tasks.noop'?"),
    ("tests.tasks_app.task.noop", "there is no module 'tests.tasks_app.task'; did you mean 'tests.tasks_app.tasks.noop'?"),
    ("tests.tasks_app.tasks.concurrency", "it is a function, not a task (decorate it with @task)."),
    ("json.dumps", "module 'json' is not in an installed app or in OPTIONS['task_modules']."),
    ("noop", "it is not a dotted path to a task."),
])
def test_a_recurring_task_path_must_resolve_with_a_suggestion(task_path, problem):
    messages = backend_checks("default", params(recurring={"nightly": {"task_path": task_path, "schedule": "@daily"}}))
    assert ids(messages) == ["dj_queue.E006"]
    assert messages[0].msg == f"{RECURRING}: task_path {task_path!r} does not resolve: {problem}"


def test_task_modules_are_allowed_for_recurring_tasks_and_must_import():
    recurring = {"nightly": {"task_path": "json.dumps", "schedule": "@daily"}}
    messages = backend_checks("default", params(recurring=recurring, task_modules=["json"]))
    assert [m.msg for m in messages] == [
        f"{RECURRING}: task_path 'json.dumps' does not resolve: it is a function, not a task (decorate it with @task)."
    ]
    messages = backend_checks("default", params(task_modules=["tests.tasks_app", "nowhere.jobs", 3]))
    assert ids(messages) == ["dj_queue.E007", "dj_queue.E007"]
    assert [m.msg for m in messages] == [
        "TASKS['default']['OPTIONS']['task_modules'] lists 'nowhere.jobs', which cannot be imported: "
        "ModuleNotFoundError: No module named 'nowhere'.",
        "TASKS['default']['OPTIONS']['task_modules'] lists 3, which is not a dotted module path.",
    ]


def test_options_naming_a_database_or_a_callable_must_name_one_that_exists():
    assert backend_checks("default", params(notify_database_alias="default", on_thread_error="logging.warning")) == []
    messages = backend_checks("default", params(notify_database_alias="direct", on_thread_error="myapp.nope.handler"))
    assert ids(messages) == ["dj_queue.E008", "dj_queue.E009"]
    assert [m.msg for m in messages] == [
        "TASKS['default']['OPTIONS']['notify_database_alias'] is 'direct', which is not in DATABASES.",
        "TASKS['default']['OPTIONS']['on_thread_error'] is 'myapp.nope.handler', which cannot be imported: "
        "ModuleNotFoundError: No module named 'myapp'.",
    ]
    [message] = backend_checks("default", params(on_thread_error="logging.WARNING"))
    assert message.msg.endswith("is 'logging.WARNING', which is not callable.")


TYPO = "dj_queue: TASKS['default']['OPTIONS']: unknown option 'shutdown_timout'; did you mean 'shutdown_timeout'?"


def typo_tasks() -> dict:
    return {"default": params(shutdown_timout=3)}


def test_check_reports_a_typo_once_as_an_error_without_a_traceback():
    with override_settings(TASKS=typo_tasks()), pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    text = str(excinfo.value)
    assert text.count("dj_queue.E003") == 1
    assert f"?: (dj_queue.E003) {TYPO}\n" in text


@pytest.mark.django_db
def test_migrate_is_not_blocked_by_an_option_typo():
    err = StringIO()
    with override_settings(TASKS=typo_tasks()):
        call_command("migrate", skip_checks=False, verbosity=0, stderr=err, stdout=StringIO())
    assert f"?: (dj_queue.W003) {TYPO}\n" in err.getvalue()
    assert ("HINT: A warning during migrate, so that the tables can be created; manage.py check reports it as "
            "error dj_queue.E003, and the dj_queue runtime does not start until it is fixed.") in err.getvalue()


def settings_env(tmp_path, name: str, override: str) -> dict:
    """The environment of a subprocess running with the test settings plus ``override`` lines."""
    (tmp_path / f"{name}.py").write_text(f"from tests.settings import *  # noqa: F401,F403\n{override}\n")
    # The test database: on MySQL some of Django's own checks connect.
    return {**os.environ, "DJANGO_SETTINGS_MODULE": name, "DJ_QUEUE_TEST_DB": settings.DB,
            "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}


@pytest.mark.django_db
def test_manage_py_check_in_a_subprocess_prints_the_error_and_no_traceback(tmp_path):
    env = settings_env(tmp_path, "typo_settings",
                       "TASKS = {'default': {**TASKS['default'], 'OPTIONS': {'shutdown_timout': 3}}}")
    check = subprocess.run([sys.executable, "-m", "django", "check"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 1
    assert "Traceback" not in check.stdout + check.stderr
    assert f"?: (dj_queue.E003) {TYPO}\n" in check.stderr
    prune = subprocess.run([sys.executable, "-m", "django", "dj_queue_prune", "--older-than", "7d"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert (prune.returncode, prune.stderr) == (1, f"CommandError: {TYPO}\n")


def test_enqueueing_without_dj_queue_in_installed_apps_names_the_fix(tmp_path):
    env = settings_env(tmp_path, "no_app_settings",
                       "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'dj_queue']")
    code = "import django; django.setup(); from tests.tasks_app.tasks import add; add.enqueue(1, 2)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.rstrip().endswith(
        "ImproperlyConfigured: dj_queue: TASKS uses dj_queue.backend.DjQueueBackend but 'dj_queue' is not in "
        "INSTALLED_APPS: add 'dj_queue' to INSTALLED_APPS and run migrate")
