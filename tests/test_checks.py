"""System checks for dj_queue's configuration."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from dj_queue.checks import backend_checks, check_dj_queue, valid_schedule

BACKEND = "dj_queue.backend.DjQueueBackend"


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
    assert "did you mean 'workers'" in messages[0].msg
    assert ids(backend_checks("default", params(listen_notify="yes"))) == ["dj_queue.E003"]


def test_invalid_options_are_reported_by_the_registered_check():
    tasks = {"default": settings.TASKS["default"], "broken": params(shutdown_timout=3)}
    with override_settings(TASKS=tasks):
        messages = check_dj_queue()
    assert ids(messages) == ["dj_queue.E003"]
    assert "TASKS['broken']" in messages[0].msg


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


def test_a_recurring_entry_with_an_unknown_field_names_the_nearest_one():
    from dj_queue.checks import _recurring_problem

    problem = _recurring_problem({"task_path": "tests.tasks_app.tasks.add", "schedule": "* * * * *", "arg": [1]})
    assert problem == "has unknown field 'arg'; did you mean 'args'?"
