"""The README's quickstart, run as a newcomer would: a fresh project, its settings and task, a worker.

Every step takes its text from the README blocks marked ``<!-- quickstart:NAME -->``, so the test
fails when the README drifts from the code. Two things are filled in, as a reader would: the
``# ...`` line of INSTALLED_APPS becomes the apps ``startproject`` generated, and on PostgreSQL or
MySQL the project's DATABASES points at a fresh database on the test server.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- quickstart:(?P<name>[\w-]+) -->\s*```\w*\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)
PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)# \.\.\..*$", re.MULTILINE)
TIMEOUT = 60


def quickstart_blocks() -> dict[str, str]:
    blocks = {match["name"]: match["body"] for match in BLOCK.finditer(README.read_text())}
    missing = {"settings", "migrate", "task", "enqueue", "run"} - set(blocks)
    assert not missing, f"README.md lost its quickstart markers: {sorted(missing)}"
    return blocks


def shell_command(block: str) -> list[str]:
    """The first command of a ``sh`` block, run with this interpreter instead of ``python``."""
    line = next(line for line in block.splitlines() if line.strip() and not line.startswith("#"))
    words = shlex.split(line, comments=True)
    assert words[0] == "python", f"unexpected quickstart command: {line}"
    return [sys.executable, *words[1:]]


def task_source(block: str) -> str:
    """The task module; on Django 5.2 with the import the README's comment gives for it."""
    try:
        import django.tasks  # noqa: F401
    except ImportError:
        return re.sub(r"^from django\.tasks import task\s*# Django 5\.2: (?P<alt>.+)$", r"\g<alt>", block,
                      flags=re.MULTILINE)
    return block


def settings_source(generated: str, block: str, databases: dict | None) -> str:
    """The README's settings appended to the generated ones, ``# ...`` filled with the generated apps."""
    apps = re.search(r"^INSTALLED_APPS = \[\n(?P<apps>.*?)^\]", generated, re.DOTALL | re.MULTILINE)["apps"]
    assert PLACEHOLDER.search(block), "the README's settings no longer keep the user's INSTALLED_APPS (# ...)"
    filled = PLACEHOLDER.sub(lambda m: apps.rstrip("\n"), block, count=1)
    extra = f"\nDATABASES = {{'default': {databases!r}}}\n" if databases else ""
    return f"{generated}\n\n{filled}{extra}"


def server_database(name: str) -> dict | None:
    """DATABASES['default'] for a database ``name`` on the test server; None on SQLite."""
    if settings.DB == "sqlite":
        return None
    current = connection.settings_dict
    keys = ("ENGINE", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return {**{key: current[key] for key in keys if key in current}, "NAME": name}


@pytest.fixture
def database_name(django_db_blocker):
    """A fresh database on PostgreSQL / MySQL, dropped afterwards; None on SQLite (a file in the project)."""
    if settings.DB == "sqlite":
        yield None
        return
    name = f"dj_queue_quickstart{settings.SUFFIX}_{uuid.uuid4().hex[:8]}"
    quoted = connection.ops.quote_name(name)
    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {quoted}")
        try:
            yield name
        finally:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")


def newcomer_env() -> dict[str, str]:
    # A fresh shell: manage.py picks its own settings, and no dj_queue variable of the test run leaks in.
    return {key: value for key, value in os.environ.items()
            if key != "DJANGO_SETTINGS_MODULE" and not key.startswith(("DJ_QUEUE_", "PYTEST"))}


def run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=newcomer_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{shlex.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def shell(project: Path, code: str) -> list[str]:
    """Run ``code`` in ``manage.py shell``; return what it printed after ``=> `` (shell may print more)."""
    out = run([sys.executable, "manage.py", "shell", "-c", code], project)
    return [line[3:] for line in out.splitlines() if line.startswith("=> ")]


def read_back(project: Path, job_id: str) -> list[str]:
    return shell(project, "from myapp.tasks import send_welcome_email\n"
                          f"fresh = send_welcome_email.get_result({job_id!r})\n"
                          "print('=>', fresh.status.value)\n"
                          "print('=>', fresh.return_value if fresh.status.value == 'SUCCESSFUL' else '-')\n")


def test_the_readme_quickstart_runs_in_a_fresh_project(tmp_path, database_name):
    blocks = quickstart_blocks()
    project = tmp_path / "project"
    project.mkdir()
    run([sys.executable, "-m", "django", "startproject", "mysite", str(project)], tmp_path)
    run([sys.executable, "manage.py", "startapp", "myapp"], project)
    (project / "myapp" / "tasks.py").write_text(task_source(blocks["task"]))
    settings_file = project / "mysite" / "settings.py"
    settings_file.write_text(settings_source(settings_file.read_text(), blocks["settings"],
                                             server_database(database_name)))

    run(shell_command(blocks["migrate"]), project)
    [job_id, vendor] = shell(project, blocks["enqueue"] + "\nfrom django.db import connection\n"
                                      "print('=>', result.id)\nprint('=>', connection.vendor)\n")
    assert vendor == connection.vendor  # the project runs on the database under test
    assert read_back(project, job_id) == ["READY", "-"]

    log_path = tmp_path / "dj_queue.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(shell_command(blocks["run"]), cwd=project, env=newcomer_env(), stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            seen = read_back(project, job_id)
            while seen[0] != "SUCCESSFUL" and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.5)
                seen = read_back(project, job_id)
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
    output = log_path.read_text()
    assert seen == ["SUCCESSFUL", "sent"], output
    assert code == 0, output
    assert "dj_queue starting: backend='default' mode=fork" in output
