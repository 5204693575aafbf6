"""The Prometheus plugin in this process: counters from hooks, gauges from the database, the view."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from dj_queue import plugins
from dj_queue.compat import task_backends
from dj_queue.models import Job, ReadyExecution
from dj_queue.operations import processes
from dj_queue.operations.claim import claim
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.execute import execute
from dj_queue_plugins import prometheus
from tests.e2e.conftest import ROOT
from tests.tasks_app import tasks

pytestmark = pytest.mark.django_db

TASKS = "tests.tasks_app.tasks."


@pytest.fixture(autouse=True)
def in_memory(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert plugins.get_plugin_manager().has_plugin("dj_queue_plugins.prometheus")


def sample(task: str, state: str) -> float:
    value = prometheus.metrics().registry.get_sample_value(
        "dj_queue_jobs_total", {"queue": "default", "task": TASKS + task, "state": state})
    return value or 0.0


def histogram_count(name: str, task: str) -> float:
    value = prometheus.metrics().registry.get_sample_value(
        f"{name}_count", {"queue": "default", "task": TASKS + task})
    return value or 0.0


def work_off(worker, limit: int = 10) -> None:
    """Claim and execute ready jobs as ``worker`` until none are left."""
    for _ in range(limit):
        claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                        process_id=worker.pk, worker_id=worker.name)
        if not claimed:
            return
        execute(claimed[0], backend=task_backends["default"], process_id=worker.pk, using="default")


def scrape() -> dict[tuple[str, tuple], float]:
    response = prometheus.metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_a_known_workload_is_counted(django_capture_on_commit_callbacks):
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    before = {(t, s): sample(t, s) for t in ("add", "fail", "fails_until") for s in prometheus.STATES}
    waits = histogram_count("dj_queue_job_wait_seconds", "add")
    durations = histogram_count("dj_queue_job_duration_seconds", "add")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.add.enqueue(1, 2)
        tasks.add.enqueue(3, 4)
        tasks.fail.enqueue("counted")
        tasks.fails_until.enqueue(2)
    with django_capture_on_commit_callbacks(execute=True):
        work_off(worker)
    with django_capture_on_commit_callbacks(execute=True):  # the retry is due at once (backoff 0)
        dispatch_due(backend_alias="default", using="default")
        work_off(worker)
    delta = {key: sample(*key) - value for key, value in before.items() if sample(*key) != value}
    assert delta == {
        ("add", "enqueued"): 2, ("add", "started"): 2, ("add", "succeeded"): 2,
        ("fail", "enqueued"): 1, ("fail", "started"): 1, ("fail", "failed"): 1,
        ("fails_until", "enqueued"): 1, ("fails_until", "started"): 2, ("fails_until", "retried"): 1,
        ("fails_until", "succeeded"): 1,
    }
    assert histogram_count("dj_queue_job_wait_seconds", "add") - waits == 2
    assert histogram_count("dj_queue_job_duration_seconds", "add") - durations == 2


def test_a_bulk_enqueue_counts_every_job_by_task(django_capture_on_commit_callbacks):
    before = {name: sample(name, "enqueued") for name in ("add", "noop")}
    with django_capture_on_commit_callbacks(execute=True):
        task_backends["default"].enqueue_all([(tasks.add, (i, i), {}) for i in range(3)] + [(tasks.noop, (), {})])
    assert {name: sample(name, "enqueued") - value for name, value in before.items()} == {"add": 3, "noop": 1}


def test_a_rescued_job_is_counted():
    job = Job(task_path=TASKS + "add", queue_name="default")
    before = sample("add", "rescued")
    plugins.get_plugin_manager().hook.dj_queue_job_rescued(job=job, error=RuntimeError("gone"))
    assert sample("add", "rescued") - before == 1


def test_the_view_reports_queue_depths_latency_and_processes():
    processes.register(kind="worker", backend_alias="default", using="default")
    for _ in range(3):
        job = Job.objects.create(task_path=TASKS + "add", args=[1, 1], queue_name="emails")
        ReadyExecution.objects.create(job=job, queue_name="emails")
    found = scrape()
    assert found[("dj_queue_queue_depth", (("queue", "emails"), ("state", "ready")))] == 3
    assert found[("dj_queue_queue_depth", (("queue", "emails"), ("state", "claimed")))] == 0
    assert found[("dj_queue_queue_latency_seconds", (("queue", "emails"),))] >= 0
    assert found[("dj_queue_processes", (("kind", "worker"),))] == 1
    assert found[("dj_queue_processes", (("kind", "dispatcher"),))] == 0


def test_the_plugin_imports_and_stays_quiet_without_prometheus_client():
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from dj_queue_plugins import prometheus\n"
        "class Job: queue_name = 'default'; task_path = 'x'\n"
        "prometheus.dj_queue_job_failed(Job())\n"
        "print(prometheus.available(), hasattr(prometheus, 'dj_queue_execute'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"  # the hot-path hooks are not even implemented


def test_the_view_says_what_is_missing_without_prometheus_client(monkeypatch):
    monkeypatch.setattr(prometheus, "available", lambda: False)
    response = prometheus.metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 501
    assert response.content.decode() == "prometheus_client is not installed: pip install 'dj-queue[prometheus]'\n"


@pytest.mark.parametrize("port, message", [
    (0, "--metrics-port must be between 1 and 65535, got 0"),
    (70000, "--metrics-port must be between 1 and 65535, got 70000"),
])
def test_the_command_refuses_a_bad_metrics_port(port, message):
    with pytest.raises(CommandError) as caught:
        call_command("dj_queue", "--metrics-port", str(port))
    assert str(caught.value) == message


def test_the_command_refuses_metrics_when_the_plugin_is_disabled(monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", "dj_queue_plugins.prometheus")
    with pytest.raises(CommandError) as caught:
        call_command("dj_queue", "--metrics-port", "9999")
    assert str(caught.value) == "--metrics-port needs the dj_queue_plugins.prometheus plugin, which is disabled"


def test_the_command_says_when_the_metrics_port_is_taken():
    from dj_queue.management.commands.dj_queue import start_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError) as caught:
            start_metrics({"metrics_port": port, "metrics_host": "127.0.0.1", "backend": "default"}, mode="async")
    assert str(caught.value) == f"cannot serve metrics on 127.0.0.1:{port}: Address already in use"
