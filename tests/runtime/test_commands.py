"""The commands' argument handling, configuration errors and --help (runs are end-to-end tests)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from dj_queue.models import Process
from dj_queue.operations import processes


def test_only_work_and_only_dispatch_exclude_each_other():
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("dj_queue", "--only-work", "--only-dispatch")


def test_a_bad_config_file_is_a_command_error(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("shutdown_timeot: 1\n")
    with pytest.raises(CommandError, match="did you mean 'shutdown_timeout'"):
        call_command("dj_queue", "--config", str(path))


def test_unknown_backend_is_a_command_error():
    with pytest.raises(CommandError, match="no TASKS backend named 'nope'"):
        call_command("dj_queue", "--backend", "nope")
    with pytest.raises(CommandError, match="no TASKS backend named 'nope'"):
        call_command("dj_queue_health", "--backend", "nope")


def test_nothing_to_run_is_a_command_error(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("workers: []\n")
    with pytest.raises(CommandError, match="nothing to run"):
        call_command("dj_queue", "--config", str(path), "--only-work")


@pytest.mark.django_db
def test_health_exit_status_follows_heartbeat_age():
    with pytest.raises(CommandError, match="unhealthy") as excinfo:
        call_command("dj_queue_health")
    assert excinfo.value.returncode == 1
    process = processes.register(kind="worker", backend_alias="default", using="default")
    out = StringIO()
    call_command("dj_queue_health", "--max-age", "30", stdout=out)
    assert "healthy: 1 process" in out.getvalue()
    Process.objects.filter(pk=process.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=60))
    with pytest.raises(CommandError, match="unhealthy"):
        call_command("dj_queue_health", "--max-age", "30")
    with pytest.raises(CommandError, match="must be more than 0 seconds"):
        call_command("dj_queue_health", "--max-age", "0")


COMMANDS = ("dj_queue", "dj_queue_health", "dj_queue_prune", "dj_queue_status", "dj_queue_failed")
TYPO = "dj_queue: TASKS['default']['OPTIONS']: unknown option 'shutdown_timout'; did you mean 'shutdown_timeout'?"
NOPP = ("recurring task 'nightly': task_path 'tests.tasks_app.tasks.nopp' does not resolve: module "
        "'tests.tasks_app.tasks' has no attribute 'nopp'; did you mean 'tests.tasks_app.tasks.noop'?")


def _tasks(**options) -> dict:
    return {"default": {**settings.TASKS["default"], "OPTIONS": options}}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_ends_with_an_example(name):
    command = load_command_class("dj_queue", name)
    text = command.create_parser("manage.py", name).format_help()
    assert "\nExample:\n  python manage.py " + name + " " in text
    assert text.rstrip().splitlines()[-1].startswith(f"  python manage.py {name} ")


@pytest.mark.parametrize(("name", "args"), [
    ("dj_queue", []), ("dj_queue_health", []), ("dj_queue_prune", ["--older-than", "7d"]),
])
def test_a_settings_typo_stops_every_command_with_one_line(name, args):
    with override_settings(TASKS=_tasks(shutdown_timout=3)), pytest.raises(CommandError) as excinfo:
        call_command(name, *args)
    assert str(excinfo.value) == TYPO


def test_system_check_errors_of_the_backend_are_one_line_too():
    recurring = {"nightly": {"task_path": "tests.tasks_app.tasks.nopp", "schedule": "@daily"}}
    with override_settings(TASKS=_tasks(recurring=recurring, task_modules=["nowhere"])):
        with pytest.raises(CommandError) as excinfo:
            call_command("dj_queue_health", skip_checks=False)
    assert str(excinfo.value) == (f"dj_queue.E006: TASKS['default']['OPTIONS']['recurring']['nightly']: "
                                  f"{NOPP.partition(': ')[2]} (and 1 more: run manage.py check)")


def test_the_runtime_refuses_a_recurring_task_that_does_not_resolve(tmp_path):
    path = tmp_path / "typo.yml"
    path.write_text("recurring:\n  nightly:\n    task_path: tests.tasks_app.tasks.nopp\n    schedule: '@daily'\n")
    with pytest.raises(CommandError) as excinfo:
        call_command("dj_queue", "--config", str(path))
    assert str(excinfo.value) == f"dj_queue: not starting: {NOPP}"
