"""``manage.py dj_queue_health`` thresholds: backlog (exit 2) and latency (exit 3) on top of heartbeats (exit 1)."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.models import ReadyExecution
from dj_queue.operations import processes
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def health(*args: str) -> str:
    out = StringIO()
    call_command("dj_queue_health", *args, stdout=out)
    return out.getvalue()


def unhealthy(*args: str) -> CommandError:
    with pytest.raises(CommandError) as excinfo:
        health(*args)
    return excinfo.value


@pytest.fixture
def fresh_process():
    return processes.register(kind="worker", backend_alias="default", using="default")


def _ready(queue: str, n: int, age: float = 0.0) -> None:
    for _ in range(n):
        job = make_job("ready", queue=queue)
        ReadyExecution.objects.filter(job=job).update(created_at=timezone.now() - timedelta(seconds=age))


def test_backlog_over_the_limit_exits_2_naming_the_largest_queue(fresh_process):
    _ready("emails", 3)
    _ready("reports", 5)
    error = unhealthy("--max-backlog", "2")
    assert error.returncode == 2
    assert str(error) == "unhealthy: queue 'reports' of backend 'default' has 5 ready jobs (max 2)"
    out = health("--max-backlog", "5")
    # The age is whatever passed since the rows were written: a loaded machine shows 0.1s or more.
    assert re.fullmatch(r"healthy: 1 process\(es\) of backend 'default' heartbeated in the last 300s; "
                        r"largest backlog 5 ready, oldest ready job \d+\.\ds old\n", out), out


def test_latency_over_the_limit_exits_3_naming_the_oldest_queue(fresh_process):
    _ready("emails", 1, age=30)
    _ready("reports", 1, age=90)
    error = unhealthy("--max-latency", "1m")
    assert error.returncode == 3
    assert str(error).startswith("unhealthy: the oldest ready job of queue 'reports' of backend 'default' is 9")
    assert str(error).endswith("s old (max 60s)")
    assert health("--max-latency", "120", "--max-backlog", "10").startswith(
        "healthy: 1 process(es) of backend 'default' heartbeated in the last 300s; largest backlog 1 ready, "
        "oldest ready job 9")


def test_backlog_is_checked_before_latency_and_heartbeats_before_both():
    _ready("emails", 4, age=600)
    error = unhealthy("--max-backlog", "1", "--max-latency", "10")
    assert error.returncode == 1 and "no dj_queue process" in str(error)
    processes.register(kind="worker", backend_alias="default", using="default")
    assert unhealthy("--max-backlog", "1", "--max-latency", "10").returncode == 2
    assert unhealthy("--max-backlog", "4", "--max-latency", "10").returncode == 3


def test_no_queues_is_healthy_with_thresholds(fresh_process):
    assert health("--max-backlog", "0", "--max-latency", "0").endswith(
        "; largest backlog 0 ready, oldest ready job 0.0s old\n")


@pytest.mark.parametrize("args, message", [
    (("--max-backlog=-1",), "--max-backlog must not be negative"),
    (("--max-latency", "later"), "--max-latency: 'later' is not a duration: use seconds or a number with s, m, h, d or w"),
    (("--max-age", "nan"), "Error: argument --max-age: 'nan' is not a duration: use seconds or a number with s, m, h, d or w"),
])
def test_bad_thresholds_are_clear_errors(args, message):
    assert str(unhealthy(*args)) == message
