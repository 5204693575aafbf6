"""Executing one claimed job: outcomes, signals and hooks."""

from __future__ import annotations

import sys

import pluggy
import pytest

from dj_queue import hookimpl, plugins
from dj_queue.backend import DjQueueBackend
from dj_queue.compat import TaskResultStatus, task_backends, task_finished, task_started
from dj_queue.models import ClaimedExecution, FailedExecution, Job, ReadyExecution
from dj_queue.operations import processes
from dj_queue.operations.claim import claim
from dj_queue.operations.execute import execute
from tests.tasks_app.models import SideEffect

pytestmark = pytest.mark.django_db

TASKS = "tests.tasks_app.tasks."


@pytest.fixture
def worker():
    return processes.register(kind="worker", backend_alias="default", using="default")


@pytest.fixture
def run(worker):
    """Enqueue ``task_path(*args)``, claim it as ``worker`` and execute it; return the fresh Job."""

    def run(task_path: str, *args, worker_ids=(), **kwargs) -> Job:
        job = Job.objects.create(task_path=task_path, args=list(args), kwargs=kwargs, worker_ids=list(worker_ids))
        ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
        [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                          process_id=worker.pk, worker_id=worker.name)
        execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def signals_seen():
    seen = []

    def started(sender, task_result, **kwargs):
        seen.append(("started", sender, task_result.status, task_result.attempts))

    def finished(sender, task_result, **kwargs):
        seen.append(("finished", sender, task_result.status, sys.exc_info()[0]))

    task_started.connect(started)
    task_finished.connect(finished)
    yield seen
    task_started.disconnect(started)
    task_finished.disconnect(finished)


def test_success_records_the_return_value(run, worker, signals_seen):
    job = run(TASKS + "add", 2, 3)
    assert job.return_value == 5 and job.finished_at is not None
    assert job.started_at <= job.last_attempted_at <= job.finished_at
    assert job.worker_ids == [worker.name]
    assert not ClaimedExecution.objects.exists() and not FailedExecution.objects.exists()
    assert signals_seen == [("started", DjQueueBackend, TaskResultStatus.RUNNING, 1),
                            ("finished", DjQueueBackend, TaskResultStatus.SUCCESSFUL, None)]


@pytest.mark.parametrize("task_name, error_class, message", [
    ("fail", "builtins.ValueError", "boom"),
    ("calls_exit", "builtins.SystemExit", "3"),
    ("returns_unserializable", "dj_queue.serialization.SerializationError", "JSON"),
])
def test_a_failing_task_fails_only_its_job(run, signals_seen, task_name, error_class, message):
    job = run(TASKS + task_name)
    failure = FailedExecution.objects.get(job=job)
    assert failure.exception_class == error_class and message in failure.message
    assert "Traceback" in failure.traceback
    assert job.return_value is None and not ClaimedExecution.objects.exists()
    # task_finished for a failure is sent from inside the exception handler, as Django does.
    finished = signals_seen[-1]
    assert finished[:3] == ("finished", DjQueueBackend, TaskResultStatus.FAILED) and finished[3] is not None


def test_async_tasks_and_context(run):
    assert run(TASKS + "async_add", 4, 5).return_value == 9
    job = run(TASKS + "with_context", 1, worker_ids=["an-earlier-attempt"])
    assert job.return_value == {"attempt": 2, "id": str(job.pk), "value": 1}


@pytest.mark.parametrize("path", ["os.system", TASKS + "missing", "tests.tasks_app.models.SideEffect"])
def test_refused_task_paths_fail_with_a_resolution_error(run, signals_seen, path):
    job = run(path, "x")
    assert FailedExecution.objects.get(job=job).exception_class == "dj_queue.exceptions.TaskResolutionError"
    assert signals_seen == []


@pytest.fixture
def registered():
    """Register plugin objects for one test; unregistered afterwards."""
    added = []

    def register(*objs):
        for obj in objs:
            plugins.register(obj)
            added.append(obj)

    yield register
    for obj in added:
        plugins.get_plugin_manager().unregister(obj)


class Recorder:
    """A wrapper that records what it saw around the task, under ``label``."""

    def __init__(self, seen: list, label: str, **opts) -> None:
        self.seen, self.label = seen, label
        # each instance gets its own hookimpl so tests can order them with tryfirst/trylast
        def dj_queue_execute(job):
            seen.append((label, "before", job.task_path.rsplit(".", 1)[-1]))
            try:
                value = yield
            except Exception as exc:
                seen.append((label, "raised", str(exc)))
                raise
            seen.append((label, "after", value))
            return value

        self.dj_queue_execute = hookimpl(wrapper=True, **opts)(dj_queue_execute)


def test_wrappers_nest_and_see_the_value_of_the_single_task_call(run, registered):
    seen = []
    registered(Recorder(seen, "outer", tryfirst=True), Recorder(seen, "inner"))
    job = run(TASKS + "record", "once")
    assert seen == [("outer", "before", "record"), ("inner", "before", "record"),
                    ("inner", "after", "once"), ("outer", "after", "once")]
    assert job.return_value == "once" and SideEffect.objects.filter(key="once").count() == 1


def test_wrappers_see_the_task_exception_and_it_is_recorded(run, registered, signals_seen):
    seen = []
    registered(Recorder(seen, "w"))
    job = run(TASKS + "fail", "wrapped")
    assert seen == [("w", "before", "fail"), ("w", "raised", "wrapped")]
    assert FailedExecution.objects.get(job=job).message == "wrapped"
    assert [s[:3] for s in signals_seen] == [("started", DjQueueBackend, TaskResultStatus.RUNNING),
                                             ("finished", DjQueueBackend, TaskResultStatus.FAILED)]


def test_a_wrapper_may_replace_the_return_value(run, registered):
    class Doubler:
        @hookimpl(wrapper=True)
        def dj_queue_execute(self, job):
            return (yield) * 2

    registered(Doubler())
    assert run(TASKS + "add", 2, 3).return_value == 10


def test_a_wrapper_that_yields_twice_fails_the_job_without_a_second_run(run, registered):
    class Greedy:
        @hookimpl(wrapper=True)
        def dj_queue_execute(self, job):
            yield
            yield

    registered(Greedy())
    job = run(TASKS + "record", "greedy")
    assert SideEffect.objects.filter(key="greedy").count() == 1
    failure = FailedExecution.objects.get(job=job)
    assert failure.exception_class == "builtins.RuntimeError" and "has second yield" in failure.message


@pytest.fixture
def no_wrappers(monkeypatch):
    """A manager without the installed plugins that wrap ``dj_queue_execute`` (prometheus)."""
    wrapping = {impl.plugin_name for impl in plugins.get_plugin_manager().hook.dj_queue_execute.get_hookimpls()}
    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", ",".join(wrapping))
    plugins.reset_plugin_manager()
    yield
    monkeypatch.delenv("DJ_QUEUE_DISABLE_PLUGINS")
    plugins.reset_plugin_manager()


def test_without_wrappers_the_task_runs_once_and_signals_are_sent(no_wrappers, run, signals_seen):
    assert not plugins.get_plugin_manager().hook.dj_queue_execute.get_hookimpls()
    job = run(TASKS + "record", "plain")
    assert job.return_value == "plain" and SideEffect.objects.filter(key="plain").count() == 1
    assert [s[2] for s in signals_seen] == [TaskResultStatus.RUNNING, TaskResultStatus.SUCCESSFUL]


def test_the_old_first_result_form_is_refused_with_a_clear_error():
    class OldStyle:
        @hookimpl
        def dj_queue_execute(self, job, call):
            return call()

    with pytest.raises(pluggy.PluginValidationError) as caught:
        plugins.register(OldStyle(), name="old-style")
    assert str(caught.value) == (
        "dj_queue: plugin 'old-style' implements dj_queue_execute without wrapper=True; write it as "
        "a @dj_queue.hookimpl(wrapper=True) generator that yields to run the task (see docs/hooks.md)"
    )
    assert not plugins.get_plugin_manager().has_plugin("old-style")


def test_a_plain_implementation_without_call_is_refused_too():
    class Plain:
        @hookimpl
        def dj_queue_execute(self, job):
            return "not the task"

    with pytest.raises(pluggy.PluginValidationError, match="without wrapper=True"):
        plugins.register(Plain(), name="plain")


def test_a_job_whose_claim_is_gone_is_not_recorded(worker):
    job = Job.objects.create(task_path=TASKS + "add", args=[1, 1])
    ReadyExecution.objects.create(job=job, queue_name="default")
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    ClaimedExecution.objects.filter(job=job).delete()  # e.g. pruned meanwhile
    assert execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default") is False
    job.refresh_from_db()
    assert job.finished_at is None and job.return_value is None


# --- retries, exactly once --------------------------------------------------------------------


def _run_again(job: Job, worker) -> Job:
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    assert claimed.pk == job.pk
    execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
    job.refresh_from_db()
    return job


def test_a_retried_job_runs_again_until_it_succeeds(run, worker, signals_seen):
    job = run(TASKS + "fails_until", 3)
    assert ReadyExecution.objects.filter(job=job).exists() and job.finished_at is None
    job = _run_again(_run_again(job, worker), worker)
    result = task_backends["default"].get_result(str(job.pk))
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 3
    assert result.attempts == 3 and len(result.worker_ids) == 3
    assert [e.exception_class_path for e in result.errors] == ["tests.tasks_app.tasks.Transient"] * 2
    assert [m["message"] for m in job.errors] == ["attempt 1 failed", "attempt 2 failed"]
    # One task_started per attempt, one task_finished for the job.
    assert [(kind, status) for kind, _, status, _ in signals_seen] == [
        ("started", TaskResultStatus.RUNNING), ("started", TaskResultStatus.RUNNING),
        ("started", TaskResultStatus.RUNNING), ("finished", TaskResultStatus.SUCCESSFUL)]
    assert [attempts for kind, _, _, attempts in signals_seen if kind == "started"] == [1, 2, 3]


def test_a_job_out_of_attempts_ends_failed_with_every_error(run, worker):
    job = _run_again(_run_again(run(TASKS + "fails_until", 9), worker), worker)
    result = task_backends["default"].get_result(str(job.pk))
    assert result.status == TaskResultStatus.FAILED and result.attempts == 3
    assert len(result.errors) == 3
    assert FailedExecution.objects.get(job=job).message == "attempt 3 failed"


def test_an_error_outside_retry_on_is_not_retried(run):
    job = run(TASKS + "fails_until", 2, error="value")
    result = task_backends["default"].get_result(str(job.pk))
    assert result.status == TaskResultStatus.FAILED and result.attempts == 1
    assert [e.exception_class_path for e in result.errors] == ["builtins.ValueError"]


def test_a_retry_with_backoff_is_scheduled(run, settings):
    settings.TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                  "OPTIONS": {"retry": {"max_attempts": 2, "backoff": 60}}}}
    from dj_queue.models import ScheduledExecution
    from dj_queue.operations import execute as execute_module

    execute_module._policies.clear()
    try:
        job = run(TASKS + "fail", "nope")
    finally:
        execute_module._policies.clear()
    scheduled = ScheduledExecution.objects.get(job=job)
    assert 55 <= (scheduled.scheduled_at - scheduled.created_at).total_seconds() <= 61
    assert job.finished_at is None and len(job.errors) == 1


def test_exactly_once_commits_the_writes_with_the_completion(run):
    job = run(TASKS + "write_exactly_once", "committed")
    assert job.finished_at is not None and job.return_value == 1
    assert SideEffect.objects.filter(key="committed").exists()


def test_exactly_once_rolls_the_writes_back_when_the_claim_is_lost(worker):
    job = Job.objects.create(task_path=TASKS + "write_exactly_once", args=["lost"])
    ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    ClaimedExecution.objects.filter(job=job).update(process_id=worker.pk + 1000)  # pruned meanwhile
    assert execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default") is False
    assert not SideEffect.objects.filter(key="lost").exists()
    assert Job.objects.get(pk=job.pk).finished_at is None
