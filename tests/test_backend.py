"""DjQueueBackend honours the django.tasks backend contract."""

from __future__ import annotations

import math
import re
import sys
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dj_queue.backend import DjQueueBackend
from dj_queue.api import enqueue_on_commit
from dj_queue.compat import (
    InvalidTask,
    TaskError,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task,
    task_backends,
    task_enqueued,
)
from dj_queue.exceptions import EnqueueError, TaskResolutionError
from dj_queue.models import FailedExecution, Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.enqueue import batch_size
from dj_queue.serialization import payload_size
from tests.modelsearch.tasks import update_index
from tests.tasks_app import tasks

TWO_BACKENDS = {
    "default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}},
    "other": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}},
}



@task
def defined_after_startup() -> int:
    """This module is no app, and pytest imports it after Django started: workers never load it."""
    return 1


@pytest.fixture
def backend() -> DjQueueBackend:
    return task_backends["default"]


@pytest.fixture
def enqueued_signals():
    received = []

    def receiver(sender, task_result, **kwargs):
        received.append((sender, task_result))

    task_enqueued.connect(receiver)
    yield received
    task_enqueued.disconnect(receiver)


def test_capabilities(backend):
    assert isinstance(backend, DjQueueBackend)
    assert backend.supports_defer and backend.supports_get_result
    assert backend.supports_priority and backend.supports_async_task


BAD_OPTION = "dj_queue: TASKS['default']['OPTIONS']: unknown option 'worker'; did you mean 'workers'?"


def test_a_bad_option_waits_for_the_first_use_of_the_backend():
    # Django builds backends while loading settings and running checks: building must not raise.
    broken = DjQueueBackend("default", {"OPTIONS": {"worker": []}})
    for use in (lambda: broken.options, lambda: broken.using, lambda: broken.enqueue(tasks.add, [1, 2], {})):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            use()
        assert str(excinfo.value) == BAD_OPTION
    backend = DjQueueBackend("x", {"OPTIONS": {"database_alias": "default", "max_payload_bytes": 10}})
    assert (backend.using, backend.options["max_payload_bytes"], backend.alias) == ("default", 10, "x")


@pytest.mark.django_db
def test_enqueue_writes_a_ready_job_and_get_result_reads_every_field(enqueued_signals):
    result = tasks.add.enqueue(3, 7)
    job = Job.objects.get(pk=int(result.id))
    assert ReadyExecution.objects.filter(job=job, queue_name="default").exists()
    assert (result.status, result.args, result.task) == (TaskResultStatus.READY, [3, 7], tasks.add)
    fetched = tasks.add.get_result(result.id)
    assert fetched.id == result.id == str(job.pk)
    assert fetched.status == TaskResultStatus.READY
    assert timezone.is_aware(fetched.enqueued_at) and fetched.enqueued_at == result.enqueued_at
    assert (fetched.started_at, fetched.last_attempted_at, fetched.finished_at) == (None, None, None)
    assert (fetched.args, fetched.kwargs, fetched.errors, fetched.worker_ids) == ([3, 7], {}, [], [])
    assert fetched.attempts == 0 and fetched.backend == "default"
    assert fetched.task.func is tasks.add.func
    assert enqueued_signals == [(DjQueueBackend, result)]


@pytest.mark.django_db
def test_get_result_is_one_query(backend, django_assert_num_queries):
    result = tasks.add.enqueue(1, 2)
    backend.get_result(result.id)  # warm the task-path cache
    with django_assert_num_queries(1):
        backend.get_result(result.id)


@pytest.mark.django_db
def test_task_get_result_sees_the_same_task_even_with_other_options():
    result = tasks.add.using(priority=5, queue_name="q2").enqueue(1, 1)
    fetched = tasks.add.get_result(result.id)
    assert (fetched.task.priority, fetched.task.queue_name) == (5, "q2")


@pytest.mark.django_db
def test_refresh_follows_the_jobs_state():
    result = tasks.add.enqueue(2, 2)
    Job.objects.filter(pk=result.id).update(
        finished_at=timezone.now(), started_at=timezone.now(), return_value=4, worker_ids=["w1"]
    )
    ReadyExecution.objects.filter(job_id=result.id).delete()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 4 and result.attempts == 1


@pytest.mark.django_db
def test_failed_results_expose_errors():
    result = tasks.fail.enqueue("bad")
    ReadyExecution.objects.filter(job_id=result.id).delete()
    FailedExecution.objects.create(job_id=result.id, exception_class="builtins.ValueError", traceback="tb: bad")
    fetched = tasks.fail.get_result(result.id)
    assert fetched.status == TaskResultStatus.FAILED
    assert [(e.exception_class_path, e.traceback) for e in fetched.errors] == [("builtins.ValueError", "tb: bad")]


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["999999999", "abc", "", "1.5", "-1", " 1", "1" * 40, None])
def test_unknown_ids_do_not_exist(backend, bad_id):
    tasks.add.enqueue(1, 2)
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(bad_id)


@pytest.mark.django_db
def test_results_of_another_backend_alias_do_not_exist():
    with override_settings(TASKS=TWO_BACKENDS):
        result = tasks.add.using(backend="other").enqueue(1, 2)
        assert Job.objects.get(pk=result.id).backend_alias == "other"
        assert task_backends["other"].get_result(result.id).task.backend == "other"
        with pytest.raises(TaskResultDoesNotExist):
            task_backends["default"].get_result(result.id)


@pytest.mark.django_db
def test_a_future_run_after_creates_a_scheduled_job_reported_ready():
    run_after = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=run_after).enqueue(1, 2)
    scheduled = ScheduledExecution.objects.get(job_id=result.id)
    assert scheduled.scheduled_at == run_after
    assert not ReadyExecution.objects.filter(job_id=result.id).exists()
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == TaskResultStatus.READY and fetched.task.run_after == run_after


@pytest.mark.django_db
def test_a_past_run_after_is_ready_at_once():
    result = tasks.add.using(run_after=timezone.now() - timedelta(minutes=1)).enqueue(1, 2)
    assert ReadyExecution.objects.filter(job_id=result.id).exists()


@pytest.mark.django_db
def test_priority_and_queue_are_copied_to_the_ready_execution():
    result = tasks.important.enqueue(5)
    ready = ReadyExecution.objects.get(job_id=result.id)
    assert (ready.queue_name, ready.priority, ready.backend_alias) == ("high", 10, "default")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [(({1, 2},), {}, "args[0]"), ((1,), {"b": timezone.now()}, "kwargs['b']"), ((math.nan,), {}, "args[0]")],
)
def test_arguments_that_do_not_round_trip_are_refused(args, kwargs, path):
    with pytest.raises(EnqueueError, match=re.escape(f"tests.tasks_app.tasks.add: {path} ")):
        tasks.add.enqueue(*args, **kwargs)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_enqueue_error_is_an_invalid_task():
    with pytest.raises(InvalidTask):
        tasks.add.enqueue({1}, 2)


@pytest.mark.django_db
def test_tuples_are_stored_as_lists():
    result = tasks.add.enqueue((1, (2,)), {"k": (3,)})
    assert Job.objects.get(pk=result.id).args == [[1, [2]], {"k": [3]}]


@pytest.mark.django_db
def test_payloads_over_the_cap_are_refused():
    with override_settings(TASKS={"default": {**TWO_BACKENDS["default"], "OPTIONS": {"max_payload_bytes": 50}}}):
        tasks.add.enqueue("x" * 10, 1)
        with pytest.raises(EnqueueError, match="more than max_payload_bytes \\(50\\)"):
            tasks.add.enqueue("x" * 60, 1)
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_too_long_queue_names_are_enqueue_errors():
    with pytest.raises(EnqueueError, match="longer than 100"):
        tasks.add.using(queue_name="q" * 101)


@pytest.mark.django_db
def test_django_checks_still_apply():
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=timezone.now().replace(tzinfo=None))
    with override_settings(TASKS={"default": {**TWO_BACKENDS["default"], "QUEUES": ["default"]}}):
        with pytest.raises(InvalidTask, match="not valid"):
            tasks.add.using(queue_name="elsewhere")


@pytest.mark.django_db
def test_enqueue_all_returns_persisted_results_and_signals(backend, enqueued_signals):
    later = timezone.now() + timedelta(hours=1)
    results = backend.enqueue_all([
        (tasks.add, (1, 2), {}),
        (tasks.important, [3], {}),
        (tasks.add.using(run_after=later), [4, 5], {}),
    ])
    assert [r.args for r in results] == [[1, 2], [3], [4, 5]]
    assert all(r.status == TaskResultStatus.READY for r in results)
    assert [r.task.get_result(r.id).args for r in results] == [[1, 2], [3], [4, 5]]
    assert ReadyExecution.objects.get(job_id=results[1].id).priority == 10
    assert ScheduledExecution.objects.get(job_id=results[2].id).scheduled_at == later
    assert [r for _, r in enqueued_signals] == results
    assert {sender for sender, _ in enqueued_signals} == {DjQueueBackend}


@pytest.mark.django_db
def test_enqueue_all_results_of_one_task_are_each_its_own_and_equal_what_get_result_reads(backend, enqueued_signals):
    shared_args, shared_kwargs = [1, [2]], {"b": {"c": 3}}
    results = backend.enqueue_all([(tasks.echo, (), {}), (tasks.echo, shared_args, shared_kwargs),
                                   (tasks.echo, shared_args, shared_kwargs), (tasks.echo, (), {})])
    fields = ("id", "status", "task", "enqueued_at", "started_at", "finished_at", "last_attempted_at",
              "args", "kwargs", "backend", "errors", "worker_ids")
    for result in results:
        fetched = backend.get_result(result.id)
        assert {f: getattr(result, f) for f in fields} == {f: getattr(fetched, f) for f in fields}
        assert result.status == TaskResultStatus.READY and result.task is tasks.echo
    assert len({r.id for r in results}) == 4
    # every result holds its own lists and dicts, none the caller's or another result's
    held = [obj for r in results for obj in (r.args, r.kwargs, r.errors, r.worker_ids)]
    assert len({id(obj) for obj in held}) == len(held)
    assert all(r.args is not shared_args and r.kwargs is not shared_kwargs for r in results)
    assert results[1].args[1] is not results[2].args[1] and results[1].kwargs["b"] is not results[2].kwargs["b"]
    assert [r for _, r in enqueued_signals] == results


@pytest.mark.django_db
def test_enqueue_all_validates_everything_before_writing(backend):
    with pytest.raises(EnqueueError, match="args\\[0\\]"):
        backend.enqueue_all([(tasks.add, (1, 2), {}), (tasks.add, ({1},), {})])
    with pytest.raises(EnqueueError, match="item 0"):
        backend.enqueue_all([("tests.tasks_app.tasks.add", (), {})])
    with pytest.raises(EnqueueError, match="args is a str"):
        backend.enqueue_all([(tasks.add, "12", {})])
    with pytest.raises(EnqueueError) as excinfo:
        backend.enqueue_all([(tasks.add, 12, {})])
    assert str(excinfo.value) == ("dj_queue: cannot enqueue tests.tasks_app.tasks.add: args is an int, "
                                  "not a list or tuple; args must round-trip through JSON")
    assert not Job.objects.exists()
    assert backend.enqueue_all([]) == []


@pytest.mark.django_db
def test_enqueue_all_of_ten_thousand_jobs_is_a_few_bulk_inserts(backend):
    count = 10_000
    batches = math.ceil(count / batch_size(backend.using))
    with CaptureQueriesContext(connection) as queries:
        results = backend.enqueue_all([(tasks.add, (i, i), {}) for i in range(count)])
    assert len(results) == count and len({r.id for r in results}) == count
    assert ReadyExecution.objects.count() == count
    assert len(queries) <= batches + 4, f"{len(queries)} queries for {batches} batches"
    ids = [int(r.id) for r in results]
    assert ids == sorted(ids)
    stored = dict(Job.objects.values_list("pk", "args"))
    assert [stored[job_id] for job_id in ids] == [[i, i] for i in range(count)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        (({1, 2},), {}, "args[0] is a set, which JSON cannot represent; args must round-trip through JSON"),
        ((1,), {"b": [math.inf]}, "kwargs['b'][0] is inf, which is not valid JSON; kwargs must round-trip through JSON"),
        ((1,), {"b": {2: 3}}, "kwargs['b'][2] has an int key; keys must be str; kwargs must round-trip through JSON"),
        (("a\x00",), {}, "args[0] is a string with a NUL character or a lone surrogate, which databases refuse; "
                          "args must round-trip through JSON"),
        (([True, (1, 2.5)], "\ud800"), {}, "args[1] is a string with a NUL character or a lone surrogate, which "
                                            "databases refuse; args must round-trip through JSON"),
    ],
)
def test_enqueue_all_refuses_bad_arguments_with_the_errors_of_enqueue(backend, args, kwargs, problem):
    expected = f"dj_queue: cannot enqueue tests.tasks_app.tasks.add: {problem}"
    with pytest.raises(EnqueueError) as single:
        tasks.add.enqueue(*args, **kwargs)
    with pytest.raises(EnqueueError) as bulk:
        backend.enqueue_all([(tasks.add, (1, 2), {}), (tasks.add, args, kwargs)])
    assert str(single.value) == str(bulk.value) == expected
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_enqueue_all_keeps_key_order_and_measures_payloads_as_enqueue_does(backend):
    kwargs = {"zeta": "é" * 10, "alpha": {"y": 1, "x": [1, {"b": 2, "a": 3}]}}
    result, = backend.enqueue_all([(tasks.echo, ("ü", (1,)), kwargs)])
    stored = Job.objects.get(pk=result.id)
    assert stored.args == ["ü", [1]] and stored.kwargs == kwargs
    assert list(stored.kwargs) == ["zeta", "alpha"] and list(stored.kwargs["alpha"]["x"][1]) == ["b", "a"]
    size = payload_size(["ü", [1]], kwargs)  # UTF-8 bytes of compact JSON, as enqueue counts them
    options = {**TWO_BACKENDS["default"], "OPTIONS": {"max_payload_bytes": size}}
    with override_settings(TASKS={"default": options}):
        task_backends["default"].enqueue_all([(tasks.echo, ("ü", (1,)), kwargs)])
        with pytest.raises(EnqueueError, match=f"arguments take {size + 1} bytes as JSON"):
            task_backends["default"].enqueue_all([(tasks.echo, ("üa", (1,)), kwargs)])


@pytest.mark.django_db
def test_async_twins():
    backend = task_backends["default"]
    result = async_to_sync(tasks.add.aenqueue)(4, 5)
    fetched = async_to_sync(tasks.add.aget_result)(result.id)
    assert (fetched.args, fetched.status) == ([4, 5], TaskResultStatus.READY)
    many = async_to_sync(backend.aenqueue_all)([(tasks.noop, (), {}), (tasks.async_add, (1, 2), {})])
    assert [r.task for r in many] == [tasks.noop, tasks.async_add]
    assert async_to_sync(backend.aget_result)(many[1].id).task is tasks.async_add


def test_check_delegates_to_dj_queue_checks():
    backend = DjQueueBackend("default", {"OPTIONS": {"database_alias": "elsewhere"}})
    assert [m.id for m in backend.check()] == ["dj_queue.E004"]


def test_enqueueing_with_a_broken_configuration_is_one_clear_error():
    broken = {"default": {**TWO_BACKENDS["default"], "OPTIONS": {"shutdown_timout": 3}}}
    with override_settings(TASKS=broken), pytest.raises(ImproperlyConfigured) as excinfo:
        tasks.add.enqueue(1, 2)
    assert str(excinfo.value) == ("dj_queue: TASKS['default']['OPTIONS']: unknown option 'shutdown_timout'; "
                                  "did you mean 'shutdown_timeout'?")
    assert excinfo.value.__context__ is None  # no chained traceback under it


REFUSED = (
    "dj_queue: cannot enqueue tests.test_backend.defined_after_startup: module 'tests.test_backend' "
    "is not in an installed app or OPTIONS['task_modules'] and was not imported while Django started, "
    "so workers would refuse it; add 'tests.test_backend' to OPTIONS['task_modules'] or its app to "
    "INSTALLED_APPS"
)


@pytest.mark.django_db(transaction=True)
def test_a_task_workers_would_refuse_is_refused_at_enqueue(backend):
    with pytest.raises(EnqueueError) as refused:
        defined_after_startup.enqueue()
    assert str(refused.value) == REFUSED
    with pytest.raises(EnqueueError, match="^dj_queue: cannot enqueue tests.test_backend.defined_after_startup: "):
        backend.enqueue_all([(tasks.noop, (), {}), (defined_after_startup, (), {})])
    with pytest.raises(EnqueueError, match="^dj_queue: cannot enqueue tests.test_backend.defined_after_startup: "):
        enqueue_on_commit(defined_after_startup)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_task_modules_lets_such_a_task_be_enqueued():
    allowing = DjQueueBackend("default", {"OPTIONS": {"task_modules": ["tests.test_backend"]}})
    result = allowing.enqueue(defined_after_startup, (), {})
    assert result.status == TaskResultStatus.READY
    assert Job.objects.get(pk=result.id).task_path == "tests.test_backend.defined_after_startup"


@pytest.mark.django_db
def test_a_task_of_a_non_app_package_imported_by_an_installed_app_is_enqueued():
    # As Wagtail's modelsearch, imported by the installed app wagtail.search: no task_modules needed.
    result = update_index.enqueue("page", pk=3)
    assert result.status == TaskResultStatus.READY
    assert update_index.get_result(result.id).task is update_index


@pytest.mark.django_db
def test_get_result_reads_a_job_whose_task_path_no_longer_resolves(backend):
    now = timezone.now()
    job = Job.objects.create(task_path="gone.module.send_mail", args=[1, {"b": 2, "a": 1}],
                             kwargs={"to": "x"}, priority=3, queue_name="mail", started_at=now,
                             finished_at=now, return_value={"sent": True}, worker_ids=["w1"])
    result = backend.get_result(str(job.pk))
    assert (result.status, result.args, result.kwargs) == (TaskResultStatus.SUCCESSFUL, [1, {"b": 2, "a": 1}], {"to": "x"})
    assert result.return_value == {"sent": True} and result.worker_ids == ["w1"]
    assert (result.task.module_path, result.task.name) == ("gone.module.send_mail", "send_mail")
    assert (result.task.priority, result.task.queue_name, result.task.backend) == (3, "mail", "default")
    # The stand-in names the task; it cannot run it.
    with pytest.raises(TaskResolutionError, match="^dj_queue: task 'gone.module.send_mail' does not resolve, so it cannot run$"):
        result.task.call()
    assert result.task.get_result(result.id).id == result.id
    again = async_to_sync(backend.aget_result)(str(job.pk))
    assert (again.status, again.task.module_path) == (TaskResultStatus.SUCCESSFUL, "gone.module.send_mail")


@pytest.mark.django_db
def test_get_result_reads_a_job_the_worker_refused(backend):
    # The task path names a module outside the allowlist that the application never imports.
    job = Job.objects.create(task_path="tests.never_imported.task", args=[5])
    FailedExecution.objects.create(job=job, exception_class="dj_queue.exceptions.TaskResolutionError",
                                   message="refused", traceback="TaskResolutionError: refused")
    result = backend.get_result(str(job.pk))
    assert result.status == TaskResultStatus.FAILED and result.args == [5]
    assert result.errors == [TaskError(exception_class_path="dj_queue.exceptions.TaskResolutionError",
                                       traceback="TaskResolutionError: refused")]
    assert result.task.module_path == "tests.never_imported.task"
    # Read without importing the module the row names.
    assert "tests.never_imported" not in sys.modules


@pytest.mark.django_db
@pytest.mark.parametrize(("task", "args", "kwargs", "problem"), [
    (tasks.add, (), {}, "missing a required argument: 'a'"),
    (tasks.add, (1, 2, 3), {}, "too many positional arguments"),
    (tasks.add, (1, 2), {"zzz": 3}, "got an unexpected keyword argument 'zzz'"),
    (tasks.add, (1, 2), {"a": 3}, "multiple values for argument 'a'"),
    (tasks.with_context, (), {}, "missing a required argument: 'value'"),  # the context is not counted
])
def test_arguments_the_function_does_not_take_are_refused_at_enqueue(task, args, kwargs, problem):
    for enqueue in (lambda: task.enqueue(*args, **kwargs),
                    lambda: task_backends["default"].enqueue_all([(task, args, kwargs)]),
                    lambda: enqueue_on_commit(task, *args, **kwargs)):
        with pytest.raises(EnqueueError) as info:
            enqueue()
        assert str(info.value).startswith(f"dj_queue: cannot enqueue {task.module_path}: {problem}; "
                                          f"the worker would call {task.func.__name__}(")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_calls_that_fit_pass_the_signature_check():
    for result in (tasks.add.enqueue(1, 2), tasks.add.enqueue(1, b=2), tasks.add.enqueue(a=1, b=2),
                   tasks.with_context.enqueue(5), tasks.echo.enqueue(1, 2, 3, x=4), tasks.fail.enqueue()):
        assert result.status == TaskResultStatus.READY


def test_the_signature_checked_is_the_wrapper_the_worker_calls_not_the_wrapped_function():
    import functools
    import types

    from dj_queue.signatures import check_call

    def inner(a, db):
        return a

    @functools.wraps(inner)
    def supplies_db(*args, **kwargs):  # a decorator that passes the connection itself
        return inner(*args, db="conn", **kwargs)

    task = types.SimpleNamespace(func=supplies_db, takes_context=False, module_path="m.supplies_db")
    check_call(task, [1], {})  # inspect.signature would follow __wrapped__ and ask for db
    check_call(task, [1], {"x": 2})
