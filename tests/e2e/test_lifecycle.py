"""Retries, timeouts, cancellation and exactly-once jobs through a real ``manage.py dj_queue``."""

from __future__ import annotations

import os
import signal

import pytest

from dj_queue import api
from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import Job, Process
from tests.conftest import wait_until
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

MODES = ["fork", "async"]
FAST = {"timeout_grace": 0.5, "workers": [{"queues": "*", "threads": 2, "processes": 1, "polling_interval": 0.05}]}


def _done(result) -> bool:
    return Job.objects.filter(pk=int(result.id), finished_at__isnull=False).exists()


def _result(result):
    return task_backends["default"].get_result(result.id)


def _error_classes(result) -> list[str]:
    return [e.exception_class_path for e in _result(result).errors]


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_job_is_retried_until_it_succeeds(start_runtime, mode):
    start_runtime(mode, FAST)
    result = tasks.fails_until.enqueue(3)
    wait_until(lambda: _done(result), timeout=30, message="job retried to success")
    final = _result(result)
    assert final.status == TaskResultStatus.SUCCESSFUL and final.return_value == 3
    assert final.attempts == 3 and _error_classes(result) == ["tests.tasks_app.tasks.Transient"] * 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("task", ["busy_loop", "async_sleep"])
def test_a_job_past_its_timeout_fails_and_the_worker_goes_on(start_runtime, mode, task):
    runtime = start_runtime(mode, FAST)
    slow = getattr(tasks, task).enqueue(60)
    try:
        wait_until(lambda: _done(slow), timeout=30, message="timed-out job finished")
    except BaseException:
        print(runtime.log())  # shown by pytest with the failure
        raise
    assert _result(slow).status == TaskResultStatus.FAILED
    assert _error_classes(slow) == ["dj_queue.exceptions.JobTimeoutError"]
    after = tasks.add.enqueue(1, 1)
    wait_until(lambda: _done(after), timeout=30, message="next job")
    assert _result(after).return_value == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_job_stuck_in_a_blocking_call_is_abandoned_and_its_slot_freed(start_runtime, mode):
    runtime = start_runtime(mode, {**FAST, "workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}]})
    wait_until(lambda: Process.objects.filter(kind="worker").exists(), timeout=30, message="worker up")
    first_worker = Process.objects.get(kind="worker").pid
    stuck = tasks.blocking_sleep.enqueue(60)
    wait_until(lambda: _done(stuck), timeout=30, message="stuck job failed")
    assert _error_classes(stuck) == ["dj_queue.exceptions.JobTimeoutError"]
    after = tasks.add.enqueue(2, 3)  # the only thread was stuck: a new one (or process) serves this
    wait_until(lambda: _done(after), timeout=30, message="job after the stuck one")
    assert _result(after).return_value == 5
    if mode == "fork":  # the worker process holding the stuck thread was replaced
        assert Process.objects.get(kind="worker").pid != first_worker
        assert "replacing this worker process" in runtime.log()


@pytest.mark.parametrize("mode", MODES)
def test_cancelling_a_running_job_stops_it(start_runtime, mode):
    start_runtime(mode, FAST)
    running = tasks.wait_for_cancel.enqueue("cancel-me")
    wait_until(lambda: SideEffect.objects.filter(key="cancel-me:started").exists(), timeout=30,
               message="job started")
    assert api.cancel(running.id) == "requested"
    wait_until(lambda: _done(running), timeout=30, message="cancelled job finished")
    assert _result(running).status == TaskResultStatus.FAILED
    assert _error_classes(running) == ["dj_queue.exceptions.JobCancelledError"]


def test_an_exactly_once_job_killed_mid_body_leaves_no_write_and_runs_again(start_runtime, tmp_path):
    start_runtime("fork", FAST)
    marker = tmp_path / "body-started"
    job = tasks.write_exactly_once.enqueue("once-only", 60, str(marker))
    wait_until(marker.exists, timeout=30, message="body running")
    victim = Process.objects.get(kind="worker")
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: _done(job), timeout=30, message="job run again")
    final = _result(job)
    assert final.status == TaskResultStatus.SUCCESSFUL and final.return_value == 2
    assert _error_classes(job) == ["dj_queue.exceptions.ProcessExitError"]
    assert SideEffect.objects.filter(key="once-only").count() == 1
    assert SideEffect.objects.get(key="once-only").pid != victim.pid
