from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.test import override_settings

from dj_queue import api
from dj_queue.compat import task_enqueued
from dj_queue.exceptions import EnqueueError
from dj_queue.models import BlockedExecution, Job, ReadyExecution, RecurringExecution, RecurringTask
from dj_queue.operations import recurring

pytestmark = pytest.mark.django_db
KW = {"backend_alias": "default", "using": "default"}
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt_timezone.utc)
ADD = "tests.tasks_app.tasks.add"


def static(**tasks):
    recurring.sync_static_tasks(tasks, **KW)
    RecurringTask.objects.update(created_at=T0 - timedelta(days=1))


def test_static_tasks_follow_the_settings():
    static(a={"task_path": ADD, "schedule": "* * * * *", "args": [1, 2]}, b={"task_path": ADD, "schedule": "0 * * * *"})
    assert set(RecurringTask.objects.values_list("key", flat=True)) == {"a", "b"}
    recurring.sync_static_tasks({"a": {"task_path": ADD, "schedule": "*/5 * * * *"}}, **KW)
    task = RecurringTask.objects.get()
    assert (task.key, task.schedule, task.static, task.args) == ("a", "*/5 * * * *", True, [])


def test_a_due_run_fires_once_however_many_schedulers_ask():
    static(every_minute={"task_path": ADD, "schedule": "* * * * *", "args": [2, 3], "queue_name": "cron"})
    now = T0 + timedelta(seconds=30)
    first = recurring.fire_due(now=now, **KW)
    again = recurring.fire_due(now=now + timedelta(seconds=5), **KW)
    assert len(first) == 1 and again == []
    job = Job.objects.get(pk=first[0])
    assert (job.task_path, job.args, job.queue_name) == (ADD, [2, 3], "cron")
    assert ReadyExecution.objects.filter(job=job).exists()
    run = RecurringExecution.objects.get()
    assert (run.task_key, run.run_at, run.job_id) == ("every_minute", T0, job.pk)
    assert len(recurring.fire_due(now=T0 + timedelta(minutes=1, seconds=1), **KW)) == 1


def test_a_scheduler_that_was_down_fires_only_the_latest_missed_run():
    static(hourly={"task_path": ADD, "schedule": "0 * * * *", "args": [1, 2]})
    fired = recurring.fire_due(now=T0 + timedelta(hours=5, minutes=10), **KW)
    assert len(fired) == 1
    assert RecurringExecution.objects.get().run_at == T0 + timedelta(hours=5)


def test_seconds_field_and_task_defaults():
    static(fast={"task_path": "tests.tasks_app.tasks.important", "schedule": "* * * * * */5", "args": [1]})
    recurring.fire_due(now=T0 + timedelta(seconds=7), **KW)
    run = RecurringExecution.objects.get()
    assert run.run_at == T0 + timedelta(seconds=5)
    job = Job.objects.get(pk=run.job_id)
    assert (job.queue_name, job.priority) == ("high", 10)  # the task's own defaults


def test_a_new_task_does_not_fire_a_run_from_before_it_existed():
    recurring.sync_static_tasks({"daily": {"task_path": ADD, "schedule": "0 0 * * *"}}, **KW)
    assert recurring.fire_due(**KW) == []


@pytest.mark.parametrize("schedule", ["61 * * * *", "* * *", "", "every minute"])
def test_invalid_schedules_are_explained(schedule):
    assert recurring.schedule_error(schedule)


def test_a_schedule_no_date_matches_is_refused_not_logged_every_tick():
    assert recurring.schedule_error("0 0 30 2 *") == "schedule '0 0 30 2 *' never fires (no date matches it)"
    assert recurring.schedule_error("0 0 29 2 *") is None  # leap days do come


@override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                      "OPTIONS": {"scheduler": {"dynamic_tasks_enabled": True}}}})
def test_dynamic_tasks_are_created_updated_and_removed():
    api.schedule_recurring_task(key="dyn", task_path=ADD, schedule="*/2 * * * *", args=[1, 1])
    api.schedule_recurring_task(key="dyn", task_path=ADD, schedule="*/3 * * * *", args=[1, 1])
    task = RecurringTask.objects.get(key="dyn")
    assert (task.schedule, task.static) == ("*/3 * * * *", False)
    static(fixed={"task_path": ADD, "schedule": "* * * * *"})
    with pytest.raises(EnqueueError, match="static"):
        api.schedule_recurring_task(key="fixed", task_path=ADD, schedule="* * * * *")
    assert api.unschedule_recurring_task("fixed") == 0
    assert api.unschedule_recurring_task("dyn") == 1
    assert api.unschedule_recurring_task("dyn") == 0


@override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                      "OPTIONS": {"scheduler": {"dynamic_tasks_enabled": True}}}})
@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "nope"}, "schedule"),
    ({"task_path": "os.system"}, "module 'os' is not in an installed app"),
    ({"task_path": "tests.tasks_app.tasks.missing"}, "no attribute"),
    ({"args": [{1, 2}]}, "JSON"),
    ({"priority": 500}, "priority"),
    ({"args": "12"}, "args must be a list, got str '12'"),  # not ['1', '2']
    ({"kwargs": [1]}, r"kwargs must be a dict, got list \[1\]"),
    ({"key": None}, "key must be a non-empty string"),
    ({"key": "k" * 256}, "at most 255 characters"),
    ({"queue_name": "q" * 101}, "queue_name must be a string of at most 100 characters"),
    ({"description": 5}, "description must be a string"),
])
def test_invalid_dynamic_tasks_are_enqueue_errors(kwargs, message):
    spec = {"key": "bad", "task_path": ADD, "schedule": "* * * * *", **kwargs}
    with pytest.raises(EnqueueError, match=message):
        api.schedule_recurring_task(**spec)
    assert not RecurringTask.objects.exists()


def test_dynamic_tasks_need_the_option():
    with pytest.raises(EnqueueError, match="dynamic_tasks_enabled"):
        api.schedule_recurring_task(key="dyn", task_path=ADD, schedule="* * * * *")


@override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                      "OPTIONS": {"scheduler": {"dynamic_tasks_enabled": True}}}})
def test_a_dynamic_task_path_typo_is_explained_with_a_suggestion():
    with pytest.raises(EnqueueError) as excinfo:
        api.schedule_recurring_task(key="dyn", task_path="tests.tasks_app.tasks.ad", schedule="* * * * *")
    assert str(excinfo.value) == ("recurring task 'dyn': task_path 'tests.tasks_app.tasks.ad' does not resolve: "
                                  "module 'tests.tasks_app.tasks' has no attribute 'ad'; "
                                  "did you mean 'tests.tasks_app.tasks.add'?")


def test_static_task_problems_name_the_key_the_path_and_the_suggestion():
    tasks = {"ok": {"task_path": ADD, "schedule": "@daily"},
             "typo": {"task_path": "tests.tasks_app.tasks.nopp", "schedule": "@daily"}}
    assert recurring.static_task_problems(tasks) == [
        "recurring task 'typo': task_path 'tests.tasks_app.tasks.nopp' does not resolve: module "
        "'tests.tasks_app.tasks' has no attribute 'nopp'; did you mean 'tests.tasks_app.tasks.noop'?"
    ]
    assert recurring.static_task_problems({"ok": tasks["ok"]}) == []


def test_a_stored_task_that_no_longer_resolves_is_logged_once_per_run_in_one_line(caplog):
    static(gone={"task_path": ADD, "schedule": "* * * * *"})
    RecurringTask.objects.update(task_path="tests.tasks_app.tasks.ad")
    caplog.set_level("ERROR", logger="dj_queue.recurring")
    for seconds in (5, 10, 15):  # three ticks within one run
        assert recurring.fire_due(now=T0 + timedelta(seconds=seconds), **KW) == []
    assert recurring.fire_due(now=T0 + timedelta(minutes=1, seconds=5), **KW) == []
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        (f"dj_queue: recurring task 'gone' was not enqueued for {run}: task_path 'tests.tasks_app.tasks.ad' "
         "does not resolve: module 'tests.tasks_app.tasks' has no attribute 'ad'; "
         "did you mean 'tests.tasks_app.tasks.add'?", None)
        for run in ("2026-01-01T12:00:00+00:00", "2026-01-01T12:01:00+00:00")
    ]
    assert not RecurringExecution.objects.exists()  # the reservations were rolled back: retried next tick


@override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                      "OPTIONS": {"task_modules": ["tests.test_resolution"]}}})
def test_recurring_runs_resolve_tasks_with_the_task_modules_allowlist():
    path = "tests.test_resolution.outside_installed_apps"
    static(outside={"task_path": path, "schedule": "* * * * *"})
    [job_id] = recurring.fire_due(now=T0 + timedelta(seconds=1), **KW)
    assert Job.objects.get(pk=job_id).task_path == path


def _fire_every_minute(task_path, *, args=None, kwargs=None, minutes=1):
    """Fire the every-minute task ``run`` for ``minutes`` consecutive runs; the job ids fired."""
    static(run={"task_path": task_path, "schedule": "* * * * *", "args": args or [], "kwargs": kwargs or {}})
    fired = []
    for minute in range(minutes):
        fired += recurring.fire_due(now=T0 + timedelta(minutes=minute, seconds=1), **KW)
    return fired


def test_recurring_runs_take_the_tasks_concurrency_slot():
    first, second = _fire_every_minute("tests.tasks_app.tasks.sync_account", kwargs={"account_id": 7}, minutes=2)
    jobs = {job.pk: job for job in Job.objects.filter(pk__in=[first, second])}
    assert jobs[first].concurrency_key == jobs[second].concurrency_key == "account:7"
    assert ReadyExecution.objects.filter(job_id=first).exists()
    assert BlockedExecution.objects.filter(job_id=second).exists()  # limit 1: waits for the first


def test_a_recurring_run_of_a_unique_task_whose_key_is_held_returns_the_holder():
    first, second = _fire_every_minute("tests.tasks_app.hooked_tasks.unique_report", args=[5], minutes=2)
    assert first == second and Job.objects.count() == 1
    assert list(RecurringExecution.objects.order_by("run_at").values_list("job_id", flat=True)) == [first, first]


def test_a_vetoed_recurring_run_is_skipped_once_not_retried_every_tick(caplog):
    caplog.set_level(logging.INFO, logger="dj_queue.recurring")
    assert _fire_every_minute("tests.tasks_app.hooked_tasks.positive_only", args=[0]) == []
    assert recurring.fire_due(now=T0 + timedelta(seconds=20), **KW) == []  # a later tick, same run
    assert not Job.objects.exists()
    run = RecurringExecution.objects.get()
    assert (run.run_at, run.job_id) == (T0, None)
    [line] = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "positive_only.should_enqueue refused" in line


def test_a_recurring_run_sends_task_enqueued():
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append((task_result.id, task_result.task.module_path, task_result.task.queue_name))

    task_enqueued.connect(receiver)
    try:
        static(run={"task_path": ADD, "schedule": "* * * * *", "args": [1, 2], "queue_name": "cron"})
        [job_id] = recurring.fire_due(now=T0 + timedelta(seconds=1), **KW)
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [(str(job_id), ADD, "cron")]


@override_settings(TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": ["default"],
                                      "OPTIONS": {}}})
def test_a_run_the_backend_refuses_is_logged_once_per_run_without_a_traceback(caplog):
    static(elsewhere={"task_path": ADD, "schedule": "* * * * *", "queue_name": "not-allowed"})
    caplog.set_level("ERROR", logger="dj_queue.recurring")
    for seconds in (5, 10):  # two ticks within one run
        assert recurring.fire_due(now=T0 + timedelta(seconds=seconds), **KW) == []
    [record] = caplog.records
    assert record.exc_info is None
    assert record.getMessage().startswith(
        "dj_queue: recurring task 'elsewhere' was not enqueued for 2026-01-01T12:00:00+00:00: ")
    assert "not-allowed" in record.getMessage()
    assert not RecurringExecution.objects.exists() and not Job.objects.exists()
