"""``manage.py dj_queue`` as a real subprocess, in fork and async mode, on the test database."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import ClaimedExecution, FailedExecution, Job, Process, ReadyExecution
from tests.conftest import wait_until
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

MODES = ["fork", "async"]


def _finished(*results) -> bool:
    ids = [int(getattr(r, "id", None) or r.pk) for r in results]
    return Job.objects.filter(pk__in=ids, finished_at__isnull=False).count() == len(ids)


def _result(result):
    return task_backends["default"].get_result(result.id)


def _worker_rows(count: int = 1):
    return wait_until(lambda: list(Process.objects.filter(kind="worker")) if
                      Process.objects.filter(kind="worker").count() >= count else None,
                      timeout=30, message=f"{count} worker(s) registered")


@pytest.mark.parametrize("mode", MODES)
def test_jobs_succeed_and_fail_with_every_field(start_runtime, mode):
    runtime = start_runtime(mode)
    ok = tasks.add.enqueue(2, 3)
    failing = tasks.fail.enqueue("nope")
    context = tasks.with_context.enqueue(7)
    coroutine = tasks.async_add.enqueue(4, 5)
    bad_return = tasks.returns_unserializable.enqueue()
    exits = tasks.calls_exit.enqueue()
    later = tasks.add.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(10, 1)
    refused = Job.objects.create(task_path="os.system", args=["true"])
    ReadyExecution.objects.create(job=refused, queue_name="default")
    everything = [ok, failing, context, coroutine, bad_return, exits, later]
    wait_until(lambda: _finished(*everything) and Job.objects.get(pk=refused.pk).finished_at,
               timeout=40, message="all jobs finished")

    result = _result(ok)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.errors == []
    assert len(result.worker_ids) == 1 and result.worker_ids[0].startswith("worker-")
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at <= result.finished_at
    assert _result(context).return_value == {"attempt": 1, "id": context.id, "value": 7}
    assert _result(coroutine).return_value == 9
    scheduled = _result(later)
    assert scheduled.return_value == 11 and scheduled.started_at >= later.enqueued_at + timedelta(seconds=1)

    for failed, error_class in [(failing, "builtins.ValueError"), (exits, "builtins.SystemExit"),
                                (bad_return, "dj_queue.serialization.SerializationError")]:
        result = _result(failed)
        assert result.status == TaskResultStatus.FAILED, failed
        assert [e.exception_class_path for e in result.errors] == [error_class]
        assert "Traceback" in result.errors[0].traceback or error_class in result.errors[0].traceback
        assert result.finished_at is not None and result.attempts == 1
    assert "nope" in FailedExecution.objects.get(job_id=int(failing.id)).message
    assert FailedExecution.objects.get(job=refused).exception_class == "dj_queue.exceptions.TaskResolutionError"
    assert runtime.proc.poll() is None, runtime.log()
    assert not ClaimedExecution.objects.exists()

    runtime.signal(signal.SIGTERM)
    assert runtime.wait(20) == 0, runtime.log()
    assert not Process.objects.exists()


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_drains_a_running_job(start_runtime, mode):
    runtime = start_runtime(mode)
    running = tasks.sleep_then_record.enqueue("drain", 1.0)
    wait_until(lambda: SideEffect.objects.filter(key="drain:started").exists(), timeout=30,
               message="job started")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(20) == 0, runtime.log()
    result = _result(running)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == "drain"
    assert not Process.objects.exists()


def test_sigterm_deadline_sends_a_running_job_back_to_ready(start_runtime):
    runtime = start_runtime("fork", {"shutdown_timeout": 0.5})
    stuck = tasks.sleep_then_record.enqueue("stuck", 60)
    wait_until(lambda: SideEffect.objects.filter(key="stuck:started").exists(), timeout=30,
               message="job started")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(20) == 0, runtime.log()
    job = Job.objects.get(pk=int(stuck.id))
    assert ReadyExecution.objects.filter(job=job).exists()
    assert not ClaimedExecution.objects.exists() and not FailedExecution.objects.exists()
    assert len(job.worker_ids) == 1  # the interrupted attempt still counts
    assert not Process.objects.exists()


def test_sigterm_deadline_fails_a_started_at_most_once_job(start_runtime):
    runtime = start_runtime("fork", {"shutdown_timeout": 0.5, "delivery": "at_most_once"})
    stuck = tasks.sleep_on_first_attempt.enqueue("stuck-once", 60)
    wait_until(lambda: SideEffect.objects.filter(key="stuck-once:1").exists(), timeout=30, message="job started")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(20) == 0, runtime.log()
    failure = FailedExecution.objects.get(job_id=int(stuck.id))
    assert failure.exception_class == "dj_queue.exceptions.ProcessExitError"
    assert failure.message.endswith("(shutdown_timeout 0.5s); at most once: not run again")
    assert not ReadyExecution.objects.exists() and not ClaimedExecution.objects.exists()


def _kill_worker_running(runtime, key: str) -> Process:
    wait_until(lambda: SideEffect.objects.filter(key=f"{key}:1").exists(), timeout=30, message="job started")
    victim = Process.objects.get(kind="worker")
    os.kill(victim.pid, signal.SIGKILL)
    return victim


def test_sigkill_of_a_worker_reruns_its_job_and_the_supervisor_keeps_serving(start_runtime):
    runtime = start_runtime("fork")
    doomed = tasks.sleep_on_first_attempt.enqueue("doomed", 60)
    victim = _kill_worker_running(runtime, "doomed")

    wait_until(lambda: _finished(doomed), timeout=30, message="killed job run again")
    result = _result(doomed)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 2
    assert [e.exception_class_path for e in result.errors] == ["dj_queue.exceptions.ProcessExitError"]
    assert "SIGKILL" in Job.objects.get(pk=int(doomed.id)).errors[0]["message"]
    assert len(result.worker_ids) == 2 and result.attempts == 2
    assert not Process.objects.filter(pk=victim.pk).exists()

    after = tasks.add.enqueue(20, 22)
    wait_until(lambda: _finished(after), timeout=30, message="a job after the crash")
    assert _result(after).return_value == 42
    assert Process.objects.get(kind="worker").pid != victim.pid
    assert runtime.proc.poll() is None, runtime.log()


def test_sigkill_under_at_most_once_fails_the_started_job(start_runtime):
    runtime = start_runtime("fork", {"delivery": "at_most_once"})
    doomed = tasks.sleep_on_first_attempt.enqueue("once", 60)
    _kill_worker_running(runtime, "once")

    wait_until(lambda: FailedExecution.objects.filter(job_id=int(doomed.id)).exists(), timeout=30,
               message="killed job failed")
    result = _result(doomed)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "dj_queue.exceptions.ProcessExitError"
    assert "SIGKILL" in FailedExecution.objects.get(job_id=int(doomed.id)).message
    assert not SideEffect.objects.filter(key="once:2").exists()
    assert runtime.proc.poll() is None, runtime.log()


def test_expired_heartbeats_are_pruned_and_orphaned_claims_rescued(start_runtime):
    stale = Process.objects.create(kind="worker", name="worker-elsewhere-1-dead", hostname="elsewhere", pid=1,
                                   last_heartbeat_at=timezone.now() - timedelta(hours=1))
    abandoned = Job.objects.create(task_path="tests.tasks_app.tasks.noop", worker_ids=[stale.name])
    ClaimedExecution.objects.create(job=abandoned, process_id=stale.pk)
    orphan = Job.objects.create(task_path="tests.tasks_app.tasks.noop", worker_ids=["gone"])
    ClaimedExecution.objects.create(job=orphan, process_id=stale.pk + 10_000)

    runtime = start_runtime("async", {"process_alive_threshold": 5})
    wait_until(lambda: _finished(abandoned, orphan), timeout=30, message="rescued claims run again")
    assert not Process.objects.filter(pk=stale.pk).exists()
    for job, error in ((abandoned, "ProcessPrunedError"), (orphan, "ProcessMissingError")):
        job.refresh_from_db()
        assert [e["exception_class"] for e in job.errors] == [f"dj_queue.exceptions.{error}"]
        assert job.crashes == 1 and len(job.worker_ids) == 2
    assert not ClaimedExecution.objects.exists() and not FailedExecution.objects.exists()
    # The runtime's own processes heartbeat and are never pruned.
    assert Process.objects.filter(kind="supervisor", pid=runtime.pid).exists()


def test_health_command_reports_fresh_processes(start_runtime):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("dj_queue_health", "--max-age", "60")
    start_runtime("async")
    _worker_rows()
    call_command("dj_queue_health", "--max-age", "60")


@pytest.mark.timeout(300)
def test_two_supervisors_run_2000_jobs_exactly_once(start_runtime):
    config = {"workers": [{"queues": "*", "threads": 4, "processes": 2, "polling_interval": 0.05}]}
    start_runtime("fork", config)
    start_runtime("async", config)
    _worker_rows(3)
    results = task_backends["default"].enqueue_all([(tasks.record, [f"job-{i}"], {}) for i in range(2000)])
    assert len(results) == 2000
    wait_until(lambda: Job.objects.filter(finished_at__isnull=False).count() == 2000, timeout=240,
               interval=0.5, message="2000 jobs finished")

    assert not FailedExecution.objects.exists(), FailedExecution.objects.first().traceback
    assert SideEffect.objects.count() == 2000
    assert set(SideEffect.objects.values_list("key", flat=True)) == {f"job-{i}" for i in range(2000)}
    assert all(len(ids) == 1 for ids in Job.objects.values_list("worker_ids", flat=True))
    assert not ReadyExecution.objects.exists() and not ClaimedExecution.objects.exists()
    # Both supervisors took part (the async one runs jobs in its own pid, fork ones in children).
    assert len(set(SideEffect.objects.values_list("pid", flat=True))) >= 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("mode", MODES)
def test_sigquit_exits_at_once(start_runtime, mode):
    runtime = start_runtime(mode, {"shutdown_timeout": 30})
    tasks.sleep_then_record.enqueue("quit", 60)
    wait_until(lambda: SideEffect.objects.filter(key="quit:started").exists(), timeout=30, message="started")
    worker_pid = Process.objects.get(kind="worker").pid
    runtime.signal(signal.SIGQUIT)
    assert runtime.wait(5) != 0
    wait_until(lambda: not _alive(worker_pid), timeout=5, message="worker gone")
    # No drain: the claim stays until its expired heartbeat is pruned.
    assert ClaimedExecution.objects.count() == 1


def test_pidfile_refuses_a_second_supervisor(start_runtime, tmp_path):
    config = {"supervisor_pidfile": str(tmp_path / "dj_queue.pid")}
    first = start_runtime("async", config)
    wait_until(lambda: (tmp_path / "dj_queue.pid").exists() and Process.objects.filter(kind="supervisor").exists(),
               timeout=30, message="first supervisor up")
    second = start_runtime("async", config)
    assert second.wait(30) != 0
    assert "already running" in second.log()
    assert first.proc.poll() is None
    assert (tmp_path / "dj_queue.pid").read_text().strip() == str(first.pid)
