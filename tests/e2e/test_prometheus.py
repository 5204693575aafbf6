"""``manage.py dj_queue --metrics-port``: the scraped text after a known workload, fork and async mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from dj_queue.models import Job
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT
from tests.tasks_app import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

TASKS = "tests.tasks_app.tasks."
# What the runtime does with the workload below: two adds, one failure, one success on attempt 2.
RUN_COUNTS = {
    ("add", "started"): 2, ("add", "succeeded"): 2,
    ("fail", "started"): 1, ("fail", "failed"): 1,
    ("fails_until", "started"): 2, ("fails_until", "retried"): 1, ("fails_until", "succeeded"): 1,
}
ENQUEUED = {("add", "enqueued"): 2, ("fail", "enqueued"): 1, ("fails_until", "enqueued"): 1}
WORKLOAD = ("from tests.tasks_app import tasks\n"
            "tasks.add.enqueue(1, 2); tasks.add.enqueue(3, 4)\n"
            "tasks.fail.enqueue('counted'); tasks.fails_until.enqueue(2)\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def job_counts(found: dict) -> dict[tuple[str, str], float]:
    counts = {}
    for (name, labels), value in found.items():
        if name == "dj_queue_jobs_total":
            labels = dict(labels)
            counts[(labels["task"].removeprefix(TASKS), labels["state"])] = value
    return counts


def scrape_when_ready(runtime, port: int, expected: dict) -> dict:
    """Scrape until the job counters read ``expected`` (hooks fire after commit, so shortly after)."""
    seen: dict = {}

    def done() -> bool:
        nonlocal seen
        try:
            seen = scrape(port)
        except OSError:
            return False
        return job_counts(seen) == expected

    try:
        wait_until(done, timeout=60, message="the scraped counters")
    except Exception:
        print(runtime.log())
        print(job_counts(seen))
        raise
    return seen


def wait_for_workload() -> None:
    wait_until(lambda: Job.objects.count() == 4 and not Job.objects.filter(finished_at__isnull=True).exists(),
               timeout=60, message="the workload finished")


def enqueue_in_a_subprocess(multiproc_dir: str) -> None:
    """A producer on the same host, sharing the runtime's PROMETHEUS_MULTIPROC_DIR."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
           "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
           "PROMETHEUS_MULTIPROC_DIR": multiproc_dir}
    done = subprocess.run([sys.executable, "-m", "django", "shell", "-c", WORKLOAD], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def assert_gauges(found: dict) -> None:
    assert found[("dj_queue_processes", (("kind", "worker"),))] == 1
    assert found[("dj_queue_processes", (("kind", "supervisor"),))] == 1
    assert found[("dj_queue_queue_depth", (("queue", "default"), ("state", "failed")))] == 1
    assert found[("dj_queue_queue_depth", (("queue", "default"), ("state", "ready")))] == 0
    assert found[("dj_queue_queue_latency_seconds", (("queue", "default"),))] == 0
    labels = (("queue", "default"), ("task", TASKS + "add"))
    assert found[("dj_queue_job_duration_seconds_count", labels)] == 2
    assert found[("dj_queue_job_wait_seconds_count", labels)] == 2


def test_fork_mode_counts_every_process_through_the_multiprocess_dir(start_runtime, tmp_path, monkeypatch):
    multiproc_dir = tmp_path / "metrics"
    multiproc_dir.mkdir()
    # The runtime subprocess inherits this; the test process itself counts nothing there.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    port = free_port()
    runtime = start_runtime("fork", args=["--metrics-port", str(port)])
    enqueue_in_a_subprocess(str(multiproc_dir))
    wait_for_workload()
    found = scrape_when_ready(runtime, port, {**RUN_COUNTS, **ENQUEUED})
    assert_gauges(found)


def test_async_mode_counts_in_its_own_process(start_runtime, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    runtime = start_runtime("async", args=["--metrics-port", str(port)])
    tasks.add.enqueue(1, 2)
    tasks.add.enqueue(3, 4)
    tasks.fail.enqueue("counted")
    tasks.fails_until.enqueue(2)
    wait_for_workload()
    # This test process enqueued: without a shared multiprocess dir "enqueued" is counted here.
    found = scrape_when_ready(runtime, port, RUN_COUNTS)
    assert_gauges(found)


def test_fork_mode_without_a_multiprocess_dir_gets_one_of_its_own(start_runtime, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    runtime = start_runtime("fork", args=["--metrics-port", str(port)])
    tasks.add.enqueue(1, 2)
    tasks.add.enqueue(3, 4)
    tasks.fail.enqueue("counted")
    tasks.fails_until.enqueue(2)
    wait_for_workload()
    # The jobs ran in a forked worker: these counts reached the supervisor's server through files.
    scrape_when_ready(runtime, port, RUN_COUNTS)
