"""``manage.py dj_queue_status``: queue depths and live processes, as tables or JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.api import QueueInfo
from dj_queue.models import BlockedExecution, Process, ReadyExecution, ScheduledExecution
from dj_queue.operations import processes
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def status(*args: str) -> str:
    out = StringIO()
    call_command("dj_queue_status", *args, stdout=out)
    return out.getvalue()


def _jobs_in_every_state() -> None:
    make_job("ready", queue="default")
    old = make_job("ready", queue="default")
    ReadyExecution.objects.filter(job=old).update(created_at=timezone.now() - timedelta(seconds=30))
    make_job("scheduled", queue="default")
    make_job("claimed", queue="default")
    make_job("failed", queue="emails")
    blocked = make_job("scheduled", queue="emails")
    ScheduledExecution.objects.filter(job=blocked).delete()
    BlockedExecution.objects.create(job=blocked, queue_name="emails", concurrency_key="account:1",
                                    expires_at=timezone.now() + timedelta(minutes=1))
    make_job("finished", queue="finished-only")
    QueueInfo("paused").pause()


def test_json_lists_every_live_queue_and_the_live_processes():
    _jobs_in_every_state()
    worker = processes.register(kind="worker", backend_alias="default", using="default", hostname="web-1", pid=77)
    gone = processes.register(kind="worker", backend_alias="default", using="default")
    Process.objects.filter(pk=gone.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))

    data = json.loads(status("--json"))

    assert data["backend"] == "default"
    default = data["queues"][0]
    assert 29 < default.pop("latency_seconds") < 60
    assert data["queues"] == [
        {"name": "default", "ready": 2, "scheduled": 1, "blocked": 0, "claimed": 1, "failed": 0, "paused": False},
        {"name": "emails", "ready": 0, "scheduled": 0, "blocked": 1, "claimed": 0, "failed": 1,
         "latency_seconds": 0.0, "paused": False},
        {"name": "paused", "ready": 0, "scheduled": 0, "blocked": 0, "claimed": 0, "failed": 0,
         "latency_seconds": 0.0, "paused": True},
    ]
    (process,) = data["processes"]
    worker.refresh_from_db()
    assert process["name"] == worker.name
    assert {k: process[k] for k in ("kind", "hostname", "pid")} == {"kind": "worker", "hostname": "web-1", "pid": 77}
    assert process["last_heartbeat_at"] == worker.last_heartbeat_at.isoformat()
    assert 0 <= process["heartbeat_age_seconds"] < 60


def test_table_shows_queues_and_processes():
    _jobs_in_every_state()
    worker = processes.register(kind="worker", backend_alias="default", using="default", hostname="web-1", pid=77)
    lines = status().splitlines()
    assert lines[0] == "queues of backend 'default':"
    assert lines[1].split() == ["queue", "ready", "scheduled", "blocked", "claimed", "failed", "latency", "paused"]
    assert lines[2].split()[:6] == ["default", "2", "1", "0", "1", "0"] and lines[2].split()[7] == "no"
    assert lines[3].split() == ["emails", "0", "0", "1", "0", "1", "0.0s", "no"]
    assert lines[4].split() == ["paused", "0", "0", "0", "0", "0", "0.0s", "yes"]
    assert lines[5:7] == ["", "live processes: 1"]
    assert lines[7].split() == ["kind", "name", "host", "pid", "heartbeat"]
    assert lines[8].split()[:4] == ["worker", worker.name, "web-1", "77"] and lines[8].endswith("s ago")


def test_nothing_to_show_and_unknown_backend():
    assert status() == "queues of backend 'default':\n  (none)\n\nlive processes: 0\n"
    assert json.loads(status("--json")) == {"backend": "default", "queues": [], "processes": [], "throttled": 0}
    with pytest.raises(CommandError, match="no TASKS backend named 'nope'"):
        status("--backend", "nope")


def test_throttled_jobs_are_counted():
    throttled = make_job("scheduled")
    ScheduledExecution.objects.filter(job=throttled).update(throttled=True)
    make_job("scheduled")
    assert json.loads(status("--json"))["throttled"] == 1
    lines = status().splitlines()
    assert lines[2].split()[:3] == ["default", "0", "2"]
    assert lines[3] == "throttled by rate limits (among scheduled): 1"
