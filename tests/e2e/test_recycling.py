"""Worker recycling in a real ``manage.py dj_queue`` subprocess: no job lost or run twice."""

from __future__ import annotations

import signal

import pytest

from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import ClaimedExecution, FailedExecution, Job, Process, ReadyExecution
from tests.conftest import wait_until
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def info_log(monkeypatch):
    """The runtime logs why a worker is recycled at INFO."""
    monkeypatch.setenv("DJ_QUEUE_LOG_LEVEL", "INFO")


def _config(**limits) -> dict:
    return {"workers": [{"queues": "*", "threads": 2, "processes": 1, "polling_interval": 0.05, **limits}]}


def _run_twenty(runtime) -> list:
    wait_until(lambda: Process.objects.filter(kind="worker").exists(), timeout=30, message="a worker registered")
    results = task_backends["default"].enqueue_all([(tasks.record, [f"job-{i}"], {}) for i in range(20)])
    wait_until(lambda: Job.objects.filter(finished_at__isnull=False).count() == 20, timeout=90, interval=0.1,
               message=f"20 jobs finished; log:\n{runtime.log()}")
    return results


def _assert_each_ran_once(results) -> None:
    assert not FailedExecution.objects.exists(), FailedExecution.objects.first().traceback
    for result in results:
        readback = task_backends["default"].get_result(result.id)
        assert readback.status == TaskResultStatus.SUCCESSFUL and len(readback.worker_ids) == 1
    assert sorted(SideEffect.objects.values_list("key", flat=True)) == sorted(f"job-{i}" for i in range(20))
    assert not ReadyExecution.objects.exists() and not ClaimedExecution.objects.exists()


def _stop(runtime) -> None:
    assert runtime.proc.poll() is None, runtime.log()
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(30) == 0, runtime.log()
    assert not Process.objects.exists()


def test_fork_workers_are_replaced_every_five_jobs(start_runtime):
    runtime = start_runtime("fork", _config(max_jobs_per_process=5))
    results = _run_twenty(runtime)
    _assert_each_ran_once(results)
    worker_ids = {ids[0] for ids in Job.objects.values_list("worker_ids", flat=True)}
    pids = set(SideEffect.objects.values_list("pid", flat=True))
    assert len(worker_ids) >= 3 and len(pids) >= 3, worker_ids
    assert "max_jobs_per_process 5" in runtime.log()
    assert "replaced (it asked to be recycled" in runtime.log()
    assert "restarting in" not in runtime.log()  # recycling is not a crash: no backoff
    _stop(runtime)


def test_async_workers_are_replaced_every_five_jobs(start_runtime):
    runtime = start_runtime("async", _config(max_jobs_per_process=5))
    results = _run_twenty(runtime)
    _assert_each_ran_once(results)
    worker_ids = {ids[0] for ids in Job.objects.values_list("worker_ids", flat=True)}
    assert len(worker_ids) >= 3, worker_ids  # one process: the worker names differ, not the pid
    assert "recycled; starting a fresh one" in runtime.log()
    assert "restarting in" not in runtime.log()
    _stop(runtime)


def test_fork_workers_over_a_tiny_memory_limit_are_replaced_after_each_claim(start_runtime):
    runtime = start_runtime("fork", _config(max_memory_mb=1))
    results = _run_twenty(runtime)
    _assert_each_ran_once(results)
    pids = set(SideEffect.objects.values_list("pid", flat=True))
    assert len(pids) >= 3
    assert "is over max_memory_mb 1" in runtime.log()
    _stop(runtime)
