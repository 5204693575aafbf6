"""What a runtime starts with: the command's effective options, its start-up line, silence_polling."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings

from dj_queue import config
from dj_queue.management.commands import dj_queue as command
from dj_queue.models import Job, Process
from dj_queue.runtime import options as runtime_options
from dj_queue.runtime.base import audible_queries, is_quiet, quiet_queries
from dj_queue.runtime.worker import Worker
from tests.conftest import wait_until
from tests.runtime.helpers import options
from tests.tasks_app import tasks

ROOT = Path(__file__).resolve().parents[2]


def test_the_runtime_module_re_exports_the_loader():
    assert runtime_options.load_options is config.load_options
    assert runtime_options.read_yaml is config.read_yaml


# --- masking ----------------------------------------------------------------------------------


def test_secret_named_keys_are_masked_at_any_depth():
    value = {"recurring": {"sync": {"task_path": "a.b", "kwargs": {"api_token": "t0k", "user": "ann"},
                                    "args": [{"db_password": "pw"}, "plain"]}},
             "plugins": {"sentry": {"DSN": "https://k@o.ingest/1", "Credentials": {"a": 1}, "secret_key": None}}}
    out = command.masked(value)
    assert out["recurring"]["sync"]["kwargs"] == {"api_token": "***", "user": "ann"}
    assert out["recurring"]["sync"]["args"] == [{"db_password": "***"}, "plain"]
    assert out["plugins"]["sentry"] == {"DSN": "***", "Credentials": "***", "secret_key": None}
    assert value["recurring"]["sync"]["kwargs"]["api_token"] == "t0k"  # the input is untouched


@pytest.mark.parametrize(("text", "expected"), [
    ("postgres://app:hunter2@db:5432/q", "postgres://app:***@db:5432/q"),
    ("redis://:pw@cache/0", "redis://:***@cache/0"),
    ("https://ghp_abc123@github.com/x.git", "https://***@github.com/x.git"),
    ("see amqp://u:p@mq/ and https://ok.example/path", "see amqp://u:***@mq/ and https://ok.example/path"),
    ("https://api.example/hook?id=3&access_token=abc&x=1", "https://api.example/hook?id=3&access_token=***&x=1"),
    ("https://host:8080/a@b", "https://host:8080/a@b"),
    ("user@example.com", "user@example.com"),
])
def test_credentials_in_urls_are_masked(text, expected):
    assert command.masked({"note": text}) == {"note": expected}


# --- the start-up line ------------------------------------------------------------------------


def _config_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "dj_queue.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_startup_line_shows_backend_mode_actors_and_sources(tmp_path):
    path = _config_file(tmp_path, {"recurring": {"r": {"task_path": "a.b", "schedule": "@daily",
                                                       "kwargs": {"token": "s3cr3t"}}}})
    loaded = config.resolve_options(config_path=path, mode="async", environ={config.ENV_SKIP_RECURRING: "yes"})
    line = command.startup_line(loaded, backend_alias="default", actors=["worker", "worker", "dispatcher"])
    assert line == (f"dj_queue starting: backend='default' mode=async actors=[worker x2, dispatcher] "
                    f"sources=[settings TASKS['default']['OPTIONS'] < config file {path} (--config) < "
                    f"argument mode='async' < env DJ_QUEUE_SKIP_RECURRING=yes]")


def test_the_default_startup_line_is_short():
    loaded = config.resolve_options(environ={})
    line = command.startup_line(loaded, backend_alias="default", actors=["worker", "dispatcher", "scheduler"])
    assert line == ("dj_queue starting: backend='default' mode=fork actors=[worker, dispatcher, scheduler] "
                    "sources=[settings TASKS['default']['OPTIONS']]")
    assert len(line) < 200


def test_config_line_shows_the_whole_masked_configuration(tmp_path):
    path = _config_file(tmp_path, {"recurring": {"r": {"task_path": "a.b", "schedule": "@daily",
                                                       "kwargs": {"token": "s3cr3t"}}}})
    loaded = config.resolve_options(config_path=path, mode="async", environ={config.ENV_SKIP_RECURRING: "yes"})
    line = command.config_line(loaded)
    assert line.startswith("dj_queue configuration: {")
    assert "s3cr3t" not in line and "\n" not in line
    shown = json.loads(line.split(": ", 1)[1])
    assert shown["recurring"]["r"]["kwargs"] == {"token": "***"}
    assert shown["mode"] == "async" and shown["skip_recurring"] is True
    assert set(shown) == set(loaded.options)


class FakeSupervisor:
    """Stands in for the runtime: records what the command set up while it ran."""

    def __init__(self, kinds: list[str]) -> None:
        self.slots = [SimpleNamespace(spec=SimpleNamespace(kind=kind)) for kind in kinds]
        self.seen: dict = {}

    def run(self) -> int:
        self.seen["silenced"] = is_quiet(connections["default"])
        self.seen["backend_options"] = config.backend_options("default")
        return 0


@pytest.fixture
def fake_supervisor(monkeypatch):
    made: list[FakeSupervisor] = []

    def build(options, **kwargs):
        made.append(FakeSupervisor(["worker", "dispatcher"]))
        made[-1].options = options
        return made[-1]

    monkeypatch.setattr(command, "build_supervisor", build)
    return made


def test_the_command_logs_one_startup_line_and_applies_the_options(tmp_path, monkeypatch, caplog,
                                                                     fake_supervisor):
    path = _config_file(tmp_path, {"shutdown_timeout": 9, "plugins": {"x": {"password": "pw"}}})
    monkeypatch.setenv(config.ENV_CONFIG, str(path))
    monkeypatch.setenv(config.ENV_SKIP_RECURRING, "1")
    caplog.set_level(logging.DEBUG, logger="dj_queue")
    call_command("dj_queue", "--mode", "async")
    lines = [r for r in caplog.records if r.name == "dj_queue" and r.getMessage().startswith("dj_queue starting")]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    message = lines[0].getMessage()
    assert f"config file {path} (DJ_QUEUE_CONFIG)" in message and "env DJ_QUEUE_SKIP_RECURRING=1" in message
    assert "password" not in message and "shutdown_timeout" not in message
    [full] = [r for r in caplog.records if r.getMessage().startswith("dj_queue configuration: ")]
    assert full.levelno == logging.DEBUG and full.name == "dj_queue"
    assert '"password":"***"' in full.getMessage() and '"shutdown_timeout":9' in full.getMessage()
    assert "pw" not in full.getMessage().replace("password", "")
    supervisor = fake_supervisor[0]
    assert supervisor.options["skip_recurring"] is True and supervisor.options["mode"] == "async"
    # While it runs, the whole process sees the runtime's options, and the command's thread is quiet.
    assert supervisor.seen == {"silenced": True, "backend_options": {
        k: v for k, v in supervisor.options.items() if k != "skip_recurring"}}
    assert config.backend_options("default")["shutdown_timeout"] == 5
    assert not is_quiet(connections["default"])


def test_the_command_turns_configuration_errors_into_command_errors(monkeypatch, fake_supervisor):
    from django.core.management.base import CommandError

    monkeypatch.setenv(config.ENV_SKIP_RECURRING, "perhaps")
    with pytest.raises(CommandError, match="DJ_QUEUE_SKIP_RECURRING must be one of"):
        call_command("dj_queue")
    assert fake_supervisor == []


def test_a_stderr_handler_is_attached_only_when_nothing_would_show_the_line(monkeypatch, capsys):
    logger = logging.getLogger("dj_queue")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    assert command.ensure_visible(0)() is None and logger.handlers == []
    undo = command.ensure_visible(1)
    try:
        logger.info("visible line")
    finally:
        undo()
    assert "INFO dj_queue: visible line" in capsys.readouterr().err
    assert logger.handlers == [] and logger.level == logging.NOTSET
    monkeypatch.setattr(logger, "propagate", True)  # pytest's root handlers are reachable now
    command.ensure_visible(1)()
    assert logger.handlers == []


# --- silence_polling ---------------------------------------------------------------------------


def _queries_by_thread(caplog) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in caplog.records:
        if record.name == "django.db.backends" and getattr(record, "sql", None):
            found.setdefault(record.threadName, []).append(record.sql)
    return found


@pytest.fixture
def query_log(caplog):
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    with override_settings(DEBUG=True):
        yield caplog


def _count_jobs(name: str, quiet: bool) -> None:
    with quiet_queries(quiet):
        Job.objects.count()
        with audible_queries():
            Process.objects.count()  # user code inside a quiet thread logs again
        Job.objects.count()
    Job.objects.exists()  # after the block the thread logs as usual
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_quiet_queries_silences_only_its_thread_and_only_inside(query_log):
    threads = [threading.Thread(target=_count_jobs, args=(name, name == "quiet"), name=name)
               for name in ("quiet", "loud")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Only dj_queue's tables: a backend may run set-up statements when it connects.
    logged = {name: [sql for sql in sqls if "dj_queue_" in sql] for name, sqls in _queries_by_thread(query_log).items()}
    assert len(logged["loud"]) == 4
    assert len(logged["quiet"]) == 2
    assert "dj_queue_process" in logged["quiet"][0] and "LIMIT 1" in logged["quiet"][1].upper()


def _run_worker(silence: bool, caplog) -> dict[str, list[str]]:
    worker = Worker(backend_alias="default", options=options(silence_polling=silence), queues=["*"], threads=1,
                    polling_interval=0.05)
    thread = threading.Thread(target=worker.run, name="actor-loop", daemon=True)
    thread.start()
    try:
        wait_until(lambda: Process.objects.filter(kind="worker").exists(), message="worker registered")
        first_beat = Process.objects.get(kind="worker").last_heartbeat_at
        tasks.record.enqueue(f"silence-{silence}")
        wait_until(lambda: Job.objects.filter(finished_at__isnull=False).exists(), message="job finished")
        wait_until(lambda: Process.objects.get(kind="worker").last_heartbeat_at > first_beat, message="heartbeat")
    finally:
        worker.stop()
        thread.join(15)
    assert not thread.is_alive()
    return _queries_by_thread(caplog)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("silence", [True, False])
def test_a_worker_polls_quietly_while_its_task_still_logs(query_log, silence):
    logged = _run_worker(silence, query_log)
    task_queries = [sql for name, sqls in logged.items() if name.startswith("dj_queue-worker-") for sql in sqls]
    assert any("tasks_app_sideeffect" in sql for sql in task_queries)
    assert ("actor-loop" in logged) is not silence
    assert ("dj_queue-heartbeat-worker" in logged) is not silence


# --- end to end ---------------------------------------------------------------------------------


SETTINGS_WITHOUT_LOGGING = '''
from tests.settings import *  # noqa: F401,F403

LOGGING = {"version": 1, "disable_existing_loggers": False}
'''


@pytest.mark.django_db(transaction=True)
def test_manage_py_dj_queue_prints_the_startup_line_and_with_v3_the_configuration(tmp_path):
    (tmp_path / "plain_settings.py").write_text(SETTINGS_WITHOUT_LOGGING)
    path = _config_file(tmp_path, {
        "process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}],
        "recurring": {"r": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "@daily",
                            "kwargs": {"api_token": "s3cr3t"}}},
    })
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "plain_settings", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
           config.ENV_SKIP_RECURRING: "1"}
    env.pop(config.ENV_MODE, None)
    log_path = tmp_path / "runtime.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "django", "dj_queue", "--mode", "async", "--config", str(path),
                                 "-v", "3"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: "dj_queue starting" in log_path.read_text() or proc.poll() is not None,
                       timeout=30, message="the start-up line")
            wait_until(lambda: Process.objects.filter(kind="worker").exists() or proc.poll() is not None,
                       timeout=30, message="the runtime registered")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    output = log_path.read_text()
    lines = [line for line in output.splitlines() if "dj_queue starting" in line]
    assert code == 0, output
    assert len(lines) == 1, output
    assert " INFO dj_queue: dj_queue starting: backend='default' mode=async actors=[worker, dispatcher] " in lines[0]
    assert f"config file {path} (--config)" in lines[0] and "env DJ_QUEUE_SKIP_RECURRING=1" in lines[0]
    assert lines[0].endswith("env DJ_QUEUE_SKIP_RECURRING=1]") and "api_token" not in lines[0]
    # -v 3 shows the DEBUG line with the whole configuration, secrets masked.
    [full] = [line for line in output.splitlines() if "dj_queue configuration: " in line]
    assert " DEBUG dj_queue: dj_queue configuration: {" in full
    assert '"api_token":"***"' in full and "s3cr3t" not in output
