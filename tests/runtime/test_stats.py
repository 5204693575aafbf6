"""The ``--stats-every`` stats line: figures, format and timing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.api import QueueInfo
from dj_queue.models import Job, ReadyExecution
from dj_queue.runtime import stats
from dj_queue.runtime.stats import StatsLogger, stats_line, stats_visible
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def _logger(every: float = 60.0, **kwargs) -> StatsLogger:
    return StatsLogger(backend_alias="default", using="default", every=every, **kwargs)


def test_one_line_per_queue_with_depths_throughput_and_latency(caplog):
    reporter = _logger()
    reporter.since = timezone.now() - timedelta(minutes=2, seconds=1)  # two minutes, once the last second settles
    for _ in range(3):
        make_job("ready", queue="default")
    old = make_job("ready", queue="default")
    ReadyExecution.objects.filter(job=old).update(created_at=timezone.now() - timedelta(seconds=42))
    make_job("claimed", queue="default")
    for state in ("finished",) * 4 + ("failed",):
        make_job(state, queue="default")
    make_job("finished", queue="reports")  # finished only: still gets a line for its throughput
    Job.objects.filter(finished_at__isnull=False).update(finished_at=timezone.now() - timedelta(seconds=30))
    before = make_job("finished", queue="reports")
    Job.objects.filter(pk=before.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
    QueueInfo("emails").pause()

    with caplog.at_level(logging.INFO, logger="dj_queue.stats"):
        reporter.log()

    lines = [r.getMessage() for r in caplog.records if r.name == "dj_queue.stats"]
    assert lines[0].startswith(
        "dj_queue stats queue=default ready=4 scheduled=0 blocked=0 claimed=1 failed=1 finished_1m=2.0 failed_1m=0.5 "
        "latency=4")
    assert lines[0].endswith("s paused=no backend=default")
    assert lines[1:] == [
        "dj_queue stats queue=emails ready=0 scheduled=0 blocked=0 claimed=0 failed=0 finished_1m=0.0 "
        "failed_1m=0.0 latency=0.0s paused=yes backend=default",
        "dj_queue stats queue=reports ready=0 scheduled=0 blocked=0 claimed=0 failed=0 finished_1m=0.5 "
        "failed_1m=0.0 latency=0.0s paused=no backend=default",
    ]
    # the figures travel with the record too, for structured log handlers
    structured = caplog.records[0].dj_queue_stats
    assert structured["finished_1m"] == pytest.approx(2.0, rel=1e-2)
    assert (structured["finished_in_interval"], structured["failed_in_interval"]) == (4, 1)
    assert structured["interval_seconds"] == pytest.approx(120, abs=2)


def test_the_next_line_counts_only_jobs_finished_since_the_last(caplog, monkeypatch):
    reporter = _logger()
    reporter.since = timezone.now() - timedelta(minutes=1)
    counted = make_job("finished", queue="default")
    Job.objects.filter(pk=counted.pk).update(finished_at=timezone.now() - timedelta(seconds=5))
    settling = make_job("finished", queue="default")  # finished this very moment: left for the next line
    first = reporter.log()
    assert first[0]["finished_1m"] == pytest.approx(1.0, rel=0.2)
    monkeypatch.setattr(stats, "SETTLE", timedelta(0))  # as if a second had passed
    assert reporter.log()[0]["finished_1m"] > 0  # the settling job, now
    assert Job.objects.filter(pk=settling.pk).exists()
    assert reporter.log() == []  # each job was counted once; nothing else is queued
    with caplog.at_level(logging.INFO, logger="dj_queue.stats"):
        reporter.log()
    assert caplog.messages == ["dj_queue stats: backend 'default' has no waiting, running or failed jobs and none "
                               "finished since the last line"]


def test_maybe_log_waits_for_the_interval_and_reports_errors(monkeypatch):
    errors, calls = [], []
    reporter = _logger(every=30, on_error=errors.append)
    monkeypatch.setattr(reporter, "log", lambda: calls.append(1))
    reporter.maybe_log()
    assert calls == []
    reporter.next_at = 0
    reporter.maybe_log()
    assert calls == [1] and reporter.next_at > 0

    def broken():
        raise RuntimeError("database away")

    monkeypatch.setattr(reporter, "log", broken)
    reporter.next_at = 0
    reporter.maybe_log()
    assert [str(e) for e in errors] == ["database away"]


def test_interval_must_be_positive_and_stats_visible_restores_the_level():
    with pytest.raises(ValueError, match="^stats interval must be a positive number of seconds$"):
        _logger(every=0)
    assert stats.logger.level == logging.NOTSET
    undo = stats_visible()
    assert stats.logger.level == logging.INFO
    undo()
    assert stats.logger.level == logging.NOTSET


def test_stats_line_format():
    queue = {"name": "q", "ready": 1, "scheduled": 2, "blocked": 3, "claimed": 4, "failed": 5, "finished_1m": 6.25,
             "failed_1m": 0.04, "latency_seconds": 0.84, "paused": False}
    assert stats_line(queue, "default") == ("dj_queue stats queue=q ready=1 scheduled=2 blocked=3 claimed=4 failed=5 "
                                           "finished_1m=6.2 failed_1m=0.0 latency=0.8s paused=no backend=default")


@pytest.mark.parametrize(("value", "problem"), [
    ("0", "'0' must be more than 0 seconds"),
    ("nan", "'nan' is not a duration: use seconds or a number with s, m, h, d or w"),
    ("-5", "'-5' is not a duration: it must not be negative"),
])
def test_the_command_refuses_an_interval_that_is_not_positive(value, problem):
    with pytest.raises(CommandError) as excinfo:
        call_command("dj_queue", "--stats-every", value)
    assert str(excinfo.value) == f"Error: argument --stats-every: {problem}"
