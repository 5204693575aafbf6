"""Recurring tasks, concurrency controls, queue control, retries and cleanup, end to end through
``manage.py dj_queue`` subprocesses on the test database."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.api import QueueInfo
from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import Job, Process, ReadyExecution, RecurringExecution, ScheduledExecution
from dj_queue.operations.jobs import retry_failed_job
from tests.conftest import wait_until
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def result(r):
    return task_backends["default"].get_result(r.id)


def finished(*results) -> bool:
    return all(result(r).is_finished for r in results)


RECURRING = {"recurring": {"every_second": {"task_path": "tests.tasks_app.tasks.tick", "schedule": "* * * * * *"}},
             "scheduler": {"polling_interval": 1}}


def test_a_seconds_level_recurring_task_fires_on_time_exactly_once_per_run_across_three_runtimes(start_runtime):
    runtimes = [start_runtime(mode, RECURRING) for mode in ("async", "async", "fork")]
    wait_until(lambda: Process.objects.filter(kind="scheduler").count() == 3, timeout=30,
               message="three schedulers registered")
    # A scheduler that starts fires the latest run it missed, up to a period late by design; the
    # runs due once all three are up are the ones that must be on time.
    all_up = timezone.now()
    wait_until(lambda: RecurringExecution.objects.filter(run_at__gt=all_up).count() >= 5, timeout=30,
               message="five recurring runs while all schedulers were up")
    time.sleep(1.5)
    for runtime in runtimes:
        runtime.stop()
    runs = list(RecurringExecution.objects.order_by("run_at"))
    run_times = [run.run_at for run in runs]
    assert len(run_times) == len(set(run_times))
    # consecutive seconds, none skipped while the schedulers were up
    gaps = {(b - a).total_seconds() for a, b in zip(run_times, run_times[1:])}
    assert gaps == {1.0}, run_times
    jobs = {job.pk: job for job in Job.objects.filter(task_path="tests.tasks_app.tasks.tick")}
    assert len(jobs) == len(runs) and all(run.job_id in jobs for run in runs)
    lateness = [(jobs[run.job_id].enqueued_at - run.run_at).total_seconds() for run in runs if run.run_at > all_up]
    assert len(lateness) >= 5 and max(lateness) < 1.0, lateness


def test_limit_one_never_overlaps_and_unblocks_in_order(start_runtime):
    steps = [tasks.serial_step.enqueue("g", i, 0.15) for i in range(5)]
    other = tasks.serial_step.enqueue("h", 0, 0.15)
    start_runtime("fork", {"workers": [{"queues": "*", "threads": 4, "processes": 2, "polling_interval": 0.05}]})
    wait_until(lambda: finished(*steps, other), timeout=60, message="serial steps finished")
    stamps = {row.key: row.created_at for row in SideEffect.objects.filter(key__startswith="g:")}
    for i in range(4):
        assert stamps[f"g:{i}:end"] <= stamps[f"g:{i + 1}:start"], stamps
    assert all(result(s).return_value == i for i, s in enumerate(steps))


def test_discard_reports_failed_with_concurrency_limit_discarded(start_runtime):
    start_runtime("async")
    first = tasks.exclusive.enqueue("x", 1.0)
    second = tasks.exclusive.enqueue("x", 1.0)
    wait_until(lambda: finished(first, second), timeout=30, message="exclusive jobs finished")
    assert result(first).status == TaskResultStatus.SUCCESSFUL
    discarded = result(second)
    assert discarded.status == TaskResultStatus.FAILED
    assert discarded.errors[0].exception_class_path == "dj_queue.exceptions.ConcurrencyLimitDiscarded"


def test_pause_holds_jobs_ready_until_resume_and_clear_removes_only_ready(start_runtime):
    queue = QueueInfo("held")
    queue.pause()
    held = [tasks.add.using(queue_name="held").enqueue(i, i) for i in range(3)]
    start_runtime("async")
    elsewhere = tasks.add.enqueue(1, 1)
    wait_until(lambda: finished(elsewhere), timeout=30, message="the unpaused job")
    time.sleep(0.5)  # many polling intervals
    assert [result(r).status for r in held] == [TaskResultStatus.READY] * 3
    assert queue.size == 3
    queue.resume()
    wait_until(lambda: finished(*held), timeout=30, message="held jobs after resume")
    assert [result(r).return_value for r in held] == [0, 2, 4]

    queue.pause()
    doomed = [tasks.add.using(queue_name="held").enqueue(1, 2) for _ in range(2)]
    later = tasks.add.using(queue_name="held", run_after=timezone.now() + timedelta(hours=1)).enqueue(3, 4)
    assert queue.clear() == 2
    assert not Job.objects.filter(pk__in=[int(r.id) for r in doomed]).exists()
    assert ScheduledExecution.objects.filter(job_id=int(later.id)).exists()
    assert all(result(r).status == TaskResultStatus.SUCCESSFUL for r in held)


def test_a_retried_failed_job_runs_again_with_two_attempts(start_runtime):
    start_runtime("fork")
    job = tasks.flaky.enqueue("flaky-1")
    wait_until(lambda: finished(job), timeout=30, message="first attempt")
    assert result(job).status == TaskResultStatus.FAILED
    assert retry_failed_job(int(job.id))
    wait_until(lambda: result(job).status == TaskResultStatus.SUCCESSFUL, timeout=30, message="the retry")
    again = result(job)
    assert again.attempts == 2 and again.return_value == "second time lucky"
    assert again.id == job.id and len(set(again.worker_ids)) >= 1


def test_cleanup_runs_on_the_scheduler_and_deletes_only_old_finished_jobs(start_runtime):
    old = [tasks.add.enqueue(1, 1) for _ in range(3)]
    kept_failed = tasks.fail.enqueue("keep me")
    ReadyExecution.objects.filter(job_id__in=[int(r.id) for r in old]).delete()
    Job.objects.filter(pk__in=[int(r.id) for r in old]).update(finished_at=timezone.now() - timedelta(days=2))
    start_runtime("async", {"clear_finished_jobs_after": 3600})
    fresh = tasks.add.enqueue(2, 2)
    wait_until(lambda: not Job.objects.filter(pk__in=[int(r.id) for r in old]).exists(), timeout=30,
               message="old finished jobs cleaned up")
    wait_until(lambda: finished(fresh, kept_failed), timeout=30, message="fresh jobs")
    assert result(kept_failed).status == TaskResultStatus.FAILED
    assert result(fresh).status == TaskResultStatus.SUCCESSFUL
