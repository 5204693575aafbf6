"""What every dj_queue command shares: a one-line error instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("command", [["dj_queue_status"], ["dj_queue_failed", "list"], ["dj_queue_health"]])
def test_a_command_on_a_database_without_the_tables_says_to_migrate(tmp_path, command):
    env = {**os.environ, "DJ_QUEUE_TEST_DB": "sqlite", "DJ_QUEUE_TEST_DB_NAME": str(tmp_path / "empty.sqlite3"),
           "DJANGO_SETTINGS_MODULE": "tests.settings"}
    proc = subprocess.run([sys.executable, "-m", "django", *command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert ("CommandError: dj_queue's tables are not on database 'default': run "
            "`python manage.py migrate --database default` first") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_enqueueing_before_migrate_says_to_run_migrate(tmp_path):
    env = {**os.environ, "DJ_QUEUE_TEST_DB": "sqlite", "DJ_QUEUE_TEST_DB_NAME": str(tmp_path / "empty.sqlite3"),
           "DJANGO_SETTINGS_MODULE": "tests.settings"}
    code = ("import django; django.setup(); from tests.tasks_app.tasks import add; from dj_queue.compat import "
            "task_backends\nfor call in (lambda: add.enqueue(1, 2), lambda: task_backends['default'].enqueue_all("
            "[(add, [1, 2], {})])):\n    try:\n        call()\n    except Exception as exc:\n"
            "        print(type(exc).__name__, exc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    expected = ("ImproperlyConfigured dj_queue's tables are not on database 'default': run "
                "`python manage.py migrate --database default` first")
    assert proc.stdout.splitlines() == [expected, expected], proc.stdout + proc.stderr
