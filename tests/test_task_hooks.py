"""Per-task hooks: the should_enqueue veto (task and plugin) and the on_failure callback."""

from __future__ import annotations

import logging

import pytest

from dj_queue import hookimpl, plugins
from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.exceptions import EnqueueError, EnqueueVetoed
from dj_queue.models import Job, ReadyExecution
from dj_queue.operations import processes
from dj_queue.operations.claim import claim
from dj_queue.operations.execute import execute
from dj_queue.task_hooks import on_failure, should_enqueue
from tests.tasks_app import hooked_tasks
from tests.tasks_app.hooked_tasks import positive_only
from tests.tasks_app.tasks import add

pytestmark = pytest.mark.django_db
PATH = "tests.tasks_app.hooked_tasks."


def test_a_task_veto_raises_and_writes_nothing():
    assert positive_only.enqueue(5).status == TaskResultStatus.READY
    with pytest.raises(EnqueueVetoed, match="should_enqueue refused") as info:
        positive_only.enqueue(0)
    assert isinstance(info.value, EnqueueError)
    assert Job.objects.count() == 1


def test_a_veto_in_enqueue_all_enqueues_nothing_of_the_batch():
    with pytest.raises(EnqueueVetoed):
        task_backends["default"].enqueue_all([(positive_only, [1], {}), (positive_only, [-1], {})])
    assert Job.objects.count() == 0


class Veto:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    @hookimpl
    def dj_queue_should_enqueue(self, backend_alias, task, args, kwargs):
        self.calls.append((backend_alias, task.module_path, args, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def veto():
    registered = []

    def register(answer):
        plugin = Veto(answer)
        plugins.register(plugin)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        plugins.get_plugin_manager().unregister(plugin)


@pytest.mark.parametrize("answer", [True, None])
def test_a_plugin_that_answers_true_or_none_lets_the_call_through(veto, answer):
    plugin = veto(answer)
    add.enqueue(1, b=2)
    assert plugin.calls == [("default", "tests.tasks_app.tasks.add", [1], {"b": 2})]
    assert Job.objects.count() == 1


def test_a_plugin_returning_false_vetoes(veto):
    veto(False)
    with pytest.raises(EnqueueVetoed, match="dj_queue_should_enqueue plugin refused"):
        add.enqueue(1, 2)
    assert Job.objects.count() == 0


def test_an_exception_in_a_check_reaches_the_caller_unchanged(veto):
    veto(RuntimeError("check is down"))
    with pytest.raises(RuntimeError, match="check is down"):
        add.enqueue(1, 2)
    assert Job.objects.count() == 0


def test_decorators_refuse_non_callables():
    with pytest.raises(TypeError):
        should_enqueue("yes")
    with pytest.raises(TypeError):
        on_failure(None)


def run(task_path: str, *args) -> Job:
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    job = Job.objects.create(task_path=task_path, args=list(args))
    ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
    job.refresh_from_db()
    return job


def test_on_failure_is_called_once_after_the_job_failed(django_capture_on_commit_callbacks):
    hooked_tasks.FAILURES.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = run(PATH + "always_fails", "bad")
    assert hooked_tasks.FAILURES == [(str(job.pk), TaskResultStatus.FAILED, "ValueError")]


def test_on_failure_is_not_called_for_a_success(django_capture_on_commit_callbacks):
    hooked_tasks.FAILURES.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run("tests.tasks_app.tasks.add", 1, 2)
    assert hooked_tasks.FAILURES == []


def test_an_error_in_on_failure_is_logged_and_the_job_stays_failed(django_capture_on_commit_callbacks, caplog):
    with caplog.at_level(logging.ERROR, logger="dj_queue.task_hooks"):
        with django_capture_on_commit_callbacks(execute=True):
            job = run(PATH + "fails_with_broken_callback")
    assert "on_failure callback" in caplog.text and "ZeroDivisionError" in caplog.text
    assert task_backends["default"].get_result(str(job.pk)).status == TaskResultStatus.FAILED


def test_on_failure_waits_for_the_last_attempt(django_capture_on_commit_callbacks):
    hooked_tasks.FAILURES.clear()
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    job = Job.objects.create(task_path=PATH + "fails_twice")
    ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
    for attempt in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                              process_id=worker.pk, worker_id=worker.name)
            execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
        if attempt == 1:  # a retry is scheduled: not a failure yet
            assert hooked_tasks.FAILURES == []
    assert hooked_tasks.FAILURES == [(str(job.pk), TaskResultStatus.FAILED, "ValueError")]
