"""Operator commands against a live ``manage.py dj_queue``: status, health exit codes, the stats line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from dj_queue.models import ClaimedExecution, FailedExecution, Process, ReadyExecution
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT
from tests.tasks_app import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# The runtime serves only "work"; jobs on other queues stay where the test puts them.
WORK_ONLY = {"workers": [{"queues": ["work"], "threads": 2, "processes": 1, "polling_interval": 0.05}],
             "shutdown_timeout": 1}


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run a management command in its own process, as an operator (or a health check) would."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
           "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    return subprocess.run([sys.executable, "-m", "django", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def status_json() -> dict:
    out = StringIO()
    call_command("dj_queue_status", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_status_shows_jobs_in_every_state_and_the_runtime_processes(start_runtime):
    runtime = start_runtime("fork", WORK_ONLY)
    running = tasks.sleep_then_record.using(queue_name="work").enqueue("long", 60)
    failing = tasks.fail.using(queue_name="work").enqueue("boom")
    tasks.add.using(queue_name="parked").enqueue(1, 2)
    tasks.add.using(queue_name="parked", run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    tasks.sync_account.using(queue_name="parked").enqueue(7)  # takes the only slot: ready
    tasks.sync_account.using(queue_name="parked").enqueue(7)  # waits for it: blocked
    wait_until(lambda: ClaimedExecution.objects.filter(job_id=int(running.id)).exists()
               and FailedExecution.objects.filter(job_id=int(failing.id)).exists(), timeout=30,
               message="one job running and one failed")
    wait_until(lambda: {"supervisor", "worker", "dispatcher"} <= set(Process.objects.values_list("kind", flat=True)),
               timeout=30, message="the runtime's processes")

    data = status_json()

    parked, work = data["queues"]
    assert parked.pop("latency_seconds") >= 0
    assert parked == {"name": "parked", "ready": 2, "scheduled": 1, "blocked": 1, "claimed": 0, "failed": 0,
                      "paused": False}
    assert work == {"name": "work", "ready": 0, "scheduled": 0, "blocked": 0, "claimed": 1, "failed": 1,
                    "latency_seconds": 0.0, "paused": False}
    by_kind = {p["kind"]: p for p in data["processes"]}
    assert by_kind["supervisor"]["pid"] == runtime.pid
    assert by_kind["worker"]["pid"] not in (runtime.pid, os.getpid())  # fork mode: its own process
    claimed_by = ClaimedExecution.objects.get(job_id=int(running.id)).process_id
    assert Process.objects.get(pk=claimed_by).name == by_kind["worker"]["name"]
    for process in data["processes"]:
        assert 0 <= process["heartbeat_age_seconds"] < 30
        assert process["hostname"] and process["last_heartbeat_at"][:4].isdigit()


def test_health_exit_codes_with_a_live_runtime(start_runtime):
    start_runtime("async", WORK_ONLY)
    wait_until(lambda: Process.objects.exists(), timeout=30, message="a registered process")
    for _ in range(3):
        tasks.add.using(queue_name="parked").enqueue(1, 2)
    ReadyExecution.objects.update(created_at=timezone.now() - timedelta(minutes=10))

    backlog = manage("dj_queue_health", "--max-backlog", "2")
    assert backlog.returncode == 2
    assert "unhealthy: queue 'parked' of backend 'default' has 3 ready jobs (max 2)" in backlog.stderr

    latency = manage("dj_queue_health", "--max-backlog", "3", "--max-latency", "5m")
    assert latency.returncode == 3
    assert re.search(r"unhealthy: the oldest ready job of queue 'parked' of backend 'default' is 6\d\d\.\ds old "
                     r"\(max 300s\)", latency.stderr)

    healthy = manage("dj_queue_health", "--max-backlog", "3", "--max-latency", "1h")
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.startswith("healthy: ") and "largest backlog 3 ready" in healthy.stdout


def test_no_fresh_process_keeps_exit_code_1():
    result = manage("dj_queue_health", "--max-backlog", "2")
    assert result.returncode == 1
    assert "unhealthy: no dj_queue process of backend 'default' heartbeated in the last 300s" in result.stderr


@pytest.mark.parametrize("mode", ["async", "fork"])
def test_stats_every_logs_throughput_and_depth_per_queue(start_runtime, mode):
    runtime = start_runtime(mode, WORK_ONLY, args=["--stats-every", "0.5"])
    jobs = [tasks.add.using(queue_name="work").enqueue(i, i) for i in range(5)]
    tasks.add.using(queue_name="parked").enqueue(1, 1)
    wait_until(lambda: not ReadyExecution.objects.filter(queue_name="work").exists()
               and not ClaimedExecution.objects.exists(), timeout=30, message="the work queue drained")
    assert len(jobs) == 5

    line = re.compile(r"dj_queue stats queue=work ready=0 scheduled=0 blocked=0 claimed=0 failed=0 "
                      r"finished_1m=(\d+\.\d) failed_1m=0\.0 latency=0\.0s paused=no backend=default")
    wait_until(lambda: any(float(rate) > 0 for rate in line.findall(runtime.log())), timeout=30,
               message="a stats line counting the finished jobs")
    wait_until(lambda: re.search(r"dj_queue stats queue=parked ready=1 .* paused=no", runtime.log()), timeout=30,
               message="the parked queue's line")
