"""Building TaskResults from job rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.compat import TaskError, TaskResultStatus, task_backends
from dj_queue.models import ClaimedExecution, FailedExecution, Job, ReadyExecution
from dj_queue.results import StoredTask, to_task_result
from tests.tasks_app import tasks

pytestmark = pytest.mark.django_db

ADD = "tests.tasks_app.tasks.add"


@pytest.fixture
def backend():
    return task_backends["default"]


def loaded(job: Job) -> Job:
    return Job.objects.select_related("claimed_execution", "failed_execution").get(pk=job.pk)


def test_a_ready_job(backend):
    job = Job.objects.create(task_path=ADD, args=[1, 2], kwargs={"x": [3]})
    ReadyExecution.objects.create(job=job, queue_name="default")
    result = to_task_result(loaded(job), backend)
    assert (result.id, result.status, result.backend) == (str(job.pk), TaskResultStatus.READY, "default")
    assert (result.args, result.kwargs, result.errors, result.worker_ids) == ([1, 2], {"x": [3]}, [], [])
    assert result.enqueued_at == job.enqueued_at and result.finished_at is None
    assert result.task is tasks.add


def test_a_failed_job_carries_its_error_and_failure_time(backend):
    job = Job.objects.create(task_path=ADD, worker_ids=["w1"], started_at=timezone.now())
    failed = FailedExecution.objects.create(
        job=job, exception_class="builtins.ValueError", message="boom", traceback="Traceback: boom"
    )
    result = to_task_result(loaded(job), backend)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors == [TaskError(exception_class_path="builtins.ValueError", traceback="Traceback: boom")]
    assert result.errors[0].exception_class is ValueError
    assert result.finished_at == failed.created_at
    assert result.attempts == 1
    with pytest.raises(ValueError, match="failed"):
        result.return_value


def test_a_finished_job_is_successful_with_its_return_value(backend):
    now = timezone.now()
    job = Job.objects.create(task_path=ADD, finished_at=now, started_at=now - timedelta(seconds=1),
                             last_attempted_at=now - timedelta(seconds=1), return_value={"sum": [3]},
                             worker_ids=["a", "b"])
    result = to_task_result(loaded(job), backend)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.is_finished
    assert result.return_value == {"sum": [3]}
    assert (result.started_at, result.last_attempted_at, result.finished_at) == (
        job.started_at, job.last_attempted_at, job.finished_at)
    assert result.worker_ids == ["a", "b"] and result.attempts == 2


def test_a_claimed_job_is_running(backend):
    job = Job.objects.create(task_path=ADD, started_at=timezone.now(), worker_ids=["w"])
    ClaimedExecution.objects.create(job=job, process_id=None)
    result = to_task_result(loaded(job), backend)
    assert result.status == TaskResultStatus.RUNNING and not result.is_finished


def test_worker_path_passes_status_and_makes_no_queries(backend, django_assert_num_queries):
    job = Job.objects.create(task_path=ADD)
    ClaimedExecution.objects.create(job=job)
    plain = Job.objects.get(pk=job.pk)  # no select_related, as a worker's claim loads it
    to_task_result(plain, backend, status=TaskResultStatus.RUNNING)  # warm the task cache
    with django_assert_num_queries(0):
        result = to_task_result(plain, backend, status=TaskResultStatus.RUNNING)
    assert result.status == TaskResultStatus.RUNNING


def test_explicit_errors_skip_the_failed_execution(backend, django_assert_num_queries):
    job = Job.objects.get(pk=Job.objects.create(task_path=ADD).pk)
    error = TaskError(exception_class_path="builtins.KeyError", traceback="tb")
    with django_assert_num_queries(0):
        result = to_task_result(job, backend, status=TaskResultStatus.FAILED, errors=[error], task=tasks.add)
    assert result.errors == [error] and result.status == TaskResultStatus.FAILED


def test_without_select_related_the_state_is_still_found(backend):
    job = Job.objects.create(task_path=ADD)
    FailedExecution.objects.create(job=job, exception_class="builtins.ValueError")
    assert to_task_result(Job.objects.get(pk=job.pk), backend).status == TaskResultStatus.FAILED


def test_the_task_takes_the_jobs_priority_queue_and_schedule(backend):
    run_after = timezone.now() + timedelta(hours=1)
    job = Job.objects.create(task_path=ADD, priority=7, queue_name="other", scheduled_at=run_after)
    task = to_task_result(loaded(job), backend).task
    assert (task.priority, task.queue_name, task.run_after) == (7, "other", run_after)
    assert task.func is tasks.add.func


def test_a_task_whose_defaults_match_is_the_modules_object(backend):
    job = Job.objects.create(task_path="tests.tasks_app.tasks.important", priority=10, queue_name="high")
    assert to_task_result(loaded(job), backend).task is tasks.important


@pytest.mark.parametrize("path", ["gone.tasks.send", "tests.never_imported.job", "not_dotted", "os.path.join"])
def test_a_path_that_does_not_resolve_gets_a_stand_in_naming_it(backend, path):
    job = Job.objects.create(task_path=path, priority=4, queue_name="q", args=[{"b": 1, "a": 2}])
    result = to_task_result(loaded(job), backend)
    assert isinstance(result.task, StoredTask) and result.task.module_path == path
    assert (result.task.priority, result.task.queue_name, result.task.backend) == (4, "q", "default")
    assert result.status == TaskResultStatus.READY and list(result.args[0]) == ["b", "a"]
    # One stand-in per path: Task.get_result's function identity check holds between reads.
    assert to_task_result(loaded(job), backend).task.func is result.task.func


def test_a_resolvable_path_still_gets_the_real_task(backend):
    job = Job.objects.create(task_path=ADD)
    task = to_task_result(loaded(job), backend).task
    assert task is tasks.add and not isinstance(task, StoredTask)
