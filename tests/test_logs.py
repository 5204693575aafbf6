"""Logs for humans and machines: JsonFormatter, the log_format option, the recurring "fired" line."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection

from dj_queue import config
from dj_queue.exceptions import ConfigurationError
from dj_queue.logs import JsonFormatter, TracebackFormatter, job_fields
from dj_queue.management.commands import dj_queue as command
from dj_queue.models import Job, RecurringTask
from dj_queue.operations import recurring
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[1]


def _record(message: str = "job %s done", *args, exc_info=None, **extra) -> logging.LogRecord:
    logger = logging.getLogger("dj_queue.test")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args or (7,), exc_info,
                             extra=extra or None)


# --- JsonFormatter ------------------------------------------------------------------------------


def test_a_record_is_one_json_object_with_time_level_logger_and_message():
    line = JsonFormatter().format(_record())
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "dj_queue.test", "job 7 done")
    when = datetime.fromisoformat(entry["time"])
    assert when.tzinfo is not None
    assert abs((datetime.now(dt_timezone.utc) - when).total_seconds()) < 60
    assert "\n" not in line


def test_extra_fields_are_kept_and_what_json_cannot_hold_is_shown_as_text():
    when = datetime(2026, 1, 1, tzinfo=dt_timezone.utc)
    entry = json.loads(JsonFormatter().format(_record(job_id=115, task_path="myapp.tasks.report", queue="emails",
                                                      run_at=when)))
    assert (entry["job_id"], entry["task_path"], entry["queue"]) == (115, "myapp.tasks.report", "emails")
    assert entry["run_at"] == str(when)


def test_an_exception_becomes_a_traceback_field():
    try:
        raise ValueError("bad value")
    except ValueError:
        record = _record("job %s failed", exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "job 7 failed"
    assert entry["traceback"].startswith("Traceback (most recent call last):")
    assert entry["traceback"].endswith("ValueError: bad value")
    assert "\n" not in line


def _framework_error() -> tuple:
    """exc_info of an error raised inside dj_queue, called from this (user) file."""
    from dj_queue.serialization import ensure_json_roundtrip

    try:
        ensure_json_roundtrip(object(), "the return value")
    except Exception:
        return sys.exc_info()
    raise AssertionError("no error")


def test_logged_tracebacks_show_the_users_frames_and_fold_the_frameworks():
    for formatter in (TracebackFormatter("%(message)s"), JsonFormatter()):
        text = formatter.formatException(_framework_error())
        assert "in _framework_error" in text  # this file's frame stays
        assert "/dj_queue/serialization.py" not in text
        assert "framework frame" in text and "folded]" in text
        assert text.rstrip().endswith("must round-trip through JSON")


def test_job_fields_are_the_json_fields_of_a_line_about_a_job():
    job = Job(pk=42, task_path="myapp.tasks.report", queue_name="emails")
    entry = json.loads(JsonFormatter().format(_record("job %s", **job_fields(job))))
    assert (entry["job_id"], entry["task_path"], entry["queue"]) == (42, "myapp.tasks.report", "emails")


def test_a_project_can_name_the_formatter_in_its_logging_dict():
    stream = io.StringIO()
    logging.config.dictConfig({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "dj_queue.logs.JsonFormatter"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "loggers": {"dj_queue.test_dictconfig": {"handlers": ["out"], "level": "INFO", "propagate": False}},
    })
    logger = logging.getLogger("dj_queue.test_dictconfig")
    try:
        logger.info("hello %s", "ops", extra={"queue": "default"})
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert (entry["message"], entry["queue"], entry["level"]) == ("hello ops", "default", "INFO")


# --- the log_format option ------------------------------------------------------------------------


def test_log_format_defaults_to_text_and_accepts_json():
    assert config.validate({})["log_format"] == "text"
    assert config.validate({"log_format": "json"})["log_format"] == "json"


@pytest.mark.parametrize(("value", "message"), [
    ("xml", "dj_queue: OPTIONS: log_format must be one of text, json, got 'xml'"),
    (1, "dj_queue: OPTIONS: log_format must be str, got int 1"),
])
def test_other_log_formats_are_refused(value, message):
    with pytest.raises(ConfigurationError) as caught:
        config.validate({"log_format": value})
    assert str(caught.value) == message


def test_the_command_puts_the_json_formatter_on_the_handler_it_attaches(monkeypatch, capsys):
    logger = logging.getLogger("dj_queue")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    undo = command.ensure_visible(1, "json")
    try:
        [handler] = logger.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        logger.info("visible %s", "line", extra={"job_id": 3})
    finally:
        undo()
    entry = json.loads(capsys.readouterr().err)
    assert (entry["message"], entry["logger"], entry["job_id"]) == ("visible line", "dj_queue", 3)
    assert logger.handlers == []


# --- the recurring "fired" line ---------------------------------------------------------------


@pytest.mark.django_db
def test_each_fired_run_is_logged_with_its_task_key_path_and_job_id(caplog):
    t0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt_timezone.utc)
    recurring.sync_static_tasks({"nightly": {"task_path": "tests.tasks_app.tasks.add", "schedule": "* * * * *",
                                             "args": [1, 2], "queue_name": "cron"}},
                                backend_alias="default", using="default")
    RecurringTask.objects.update(created_at=t0 - timedelta(days=1))
    caplog.set_level(logging.INFO, logger="dj_queue.recurring")
    [job_id] = recurring.fire_due(backend_alias="default", using="default", now=t0 + timedelta(seconds=30))
    [record] = [r for r in caplog.records if r.name == "dj_queue.recurring"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (f"dj_queue scheduler fired nightly (tests.tasks_app.tasks.add) "
                                   f"for 2026-01-01T12:00:00+00:00: job {job_id}")
    assert (record.task_key, record.task_path, record.job_id, record.queue) == (
        "nightly", "tests.tasks_app.tasks.add", job_id, "cron")
    assert Job.objects.get(pk=job_id).queue_name == "cron"


# --- end to end -----------------------------------------------------------------------------------


SETTINGS_WITHOUT_LOGGING = '''
from tests.settings import *  # noqa: F401,F403

LOGGING = {"version": 1, "disable_existing_loggers": False}
'''


@pytest.mark.django_db(transaction=True)
def test_manage_py_dj_queue_with_log_format_json_writes_json_lines(tmp_path):
    (tmp_path / "plain_settings.py").write_text(SETTINGS_WITHOUT_LOGGING)
    path = tmp_path / "dj_queue.yml"
    path.write_text(yaml.safe_dump({
        "log_format": "json", "process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}],
        "scheduler": {"polling_interval": 0.2},
        "recurring": {"every_second": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "* * * * * *"}},
    }))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "plain_settings", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    for name in (config.ENV_MODE, config.ENV_SKIP_RECURRING, config.ENV_CONFIG):
        env.pop(name, None)
    log_path = tmp_path / "runtime.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "django", "dj_queue", "--mode", "async", "--config", str(path)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            wait_until(lambda: "scheduler fired" in log_path.read_text() or proc.poll() is not None,
                       timeout=30, message="a fired line")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    output = log_path.read_text()
    assert code == 0, output
    entries = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    starting = [e for e in entries if e["message"].startswith("dj_queue starting: ")]
    assert len(starting) == 1 and starting[0]["level"] == "INFO" and starting[0]["logger"] == "dj_queue"
    fired = [e for e in entries if e["logger"] == "dj_queue.recurring"][0]
    assert fired["task_key"] == "every_second" and fired["task_path"] == "tests.tasks_app.tasks.noop"
    assert fired["message"].endswith(f": job {fired['job_id']}")
    assert Job.objects.get(pk=fired["job_id"]).task_path == "tests.tasks_app.tasks.noop"
