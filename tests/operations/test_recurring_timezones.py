"""Recurring tasks in a time zone: cron read as wall-clock time there, across DST changes.

Europe/Berlin in 2026: clocks go from 02:00 CET to 03:00 CEST on 29 March (02:00-03:00 does not
exist) and from 03:00 CEST back to 02:00 CET on 25 October (02:00-03:00 happens twice). Every
"now" is given, so nothing waits for real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.test import override_settings

from dj_queue import api
from dj_queue.checks import backend_checks
from dj_queue.exceptions import EnqueueError
from dj_queue.models import RecurringExecution, RecurringTask
from dj_queue import cron
from dj_queue.operations import recurring

pytestmark = pytest.mark.django_db
KW = {"backend_alias": "default", "using": "default"}
ADD = "tests.tasks_app.tasks.add"
BERLIN = "Europe/Berlin"
DYNAMIC = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                       "OPTIONS": {"scheduler": {"dynamic_tasks_enabled": True}}}}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=dt_timezone.utc)


@pytest.mark.parametrize(("now", "latest", "following"), [
    # spring forward: 02:30 does not exist and is read as 03:30 CEST (01:30 UTC)
    ("2026-03-29T00:45", "2026-03-28T01:30", "2026-03-29T01:30"),  # 01:45 CET
    ("2026-03-29T01:10", "2026-03-28T01:30", "2026-03-29T01:30"),  # 03:10 CEST, after the jump
    ("2026-03-29T01:30", "2026-03-29T01:30", "2026-03-30T00:30"),  # 03:30 CEST: the day's run
    # fall back: 02:30 happens twice; the first one (CEST, 00:30 UTC) is the run
    ("2026-10-25T00:29", "2026-10-24T00:30", "2026-10-25T00:30"),
    ("2026-10-25T00:30", "2026-10-25T00:30", "2026-10-26T01:30"),
    ("2026-10-25T01:40", "2026-10-25T00:30", "2026-10-26T01:30"),  # 02:40 CET, the second pass
])
def test_a_daily_run_in_the_dst_hours_of_berlin(now, latest, following):
    assert cron.latest_run("30 2 * * *", utc(now), BERLIN) == utc(latest)
    assert cron.next_run("30 2 * * *", utc(now), BERLIN) == utc(following)


def test_runs_are_read_in_the_zone_not_in_utc():
    now = utc("2026-07-01T12:00")
    assert cron.latest_run("0 9 * * *", now, BERLIN) == utc("2026-07-01T07:00")
    assert cron.latest_run("0 9 * * *", now, "America/New_York") == utc("2026-06-30T13:00")
    assert cron.latest_run("0 9 * * *", now, "UTC") == utc("2026-07-01T09:00")


def test_an_hourly_schedule_fires_each_wall_clock_hour_once_on_a_fall_back_night():
    runs = {cron.latest_run("0 * * * *", utc("2026-10-24T22:00") + timedelta(minutes=m), BERLIN)
            for m in range(0, 6 * 60, 5)}
    # 02:00 CEST (00:00 UTC) fires; the repeated 02:00 CET (01:00 UTC) does not fire again.
    assert sorted(runs) == [utc(t) for t in ("2026-10-24T22:00", "2026-10-24T23:00", "2026-10-25T00:00",
                                             "2026-10-25T02:00", "2026-10-25T03:00")]


def tick_through(start: datetime, end: datetime, step: timedelta, extra: tuple[datetime, ...] = ()) -> None:
    """Run the scheduler's firing logic at every ``step`` from ``start`` to ``end`` (and at ``extra``)."""
    moments = []
    now = start
    while now <= end:
        moments.append(now)
        now += step
    for moment in sorted({*moments, *extra}):
        recurring.fire_due(now=moment, **KW)


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("2026-03-28T21:00", "2026-03-29T05:00", "2026-03-29T01:30"),
    ("2026-10-24T20:00", "2026-10-25T04:00", "2026-10-25T00:30"),
])
def test_the_scheduler_fires_once_on_each_dst_day_at_the_right_instant(start, end, expected):
    recurring.sync_static_tasks({"nightly": {"task_path": ADD, "schedule": "30 2 * * *", "args": [1, 1],
                                             "timezone": BERLIN}}, **KW)
    RecurringTask.objects.update(created_at=utc(start))
    due = utc(expected)
    # ticks every 10 minutes plus the edges of the run, of both passes through 02:30 and of the jump
    edges = (due - timedelta(seconds=1), due, due + timedelta(seconds=1), due + timedelta(hours=1),
             utc(start[:10] + "T23:59:59"), utc(end[:10] + "T01:00"), utc(end[:10] + "T01:30:30"))
    tick_through(utc(start), utc(end), timedelta(minutes=10), edges)
    runs = list(RecurringExecution.objects.values_list("run_at", "task_key"))
    assert runs == [(due, "nightly")]
    assert RecurringExecution.objects.get().job_id is not None


def test_static_tasks_store_their_zone_or_the_default_one():
    with override_settings(TIME_ZONE="Asia/Tokyo"):
        recurring.sync_static_tasks({"a": {"task_path": ADD, "schedule": "0 9 * * *", "timezone": BERLIN},
                                     "b": {"task_path": ADD, "schedule": "0 9 * * *"}}, **KW)
    assert dict(RecurringTask.objects.values_list("key", "timezone")) == {"a": BERLIN, "b": "Asia/Tokyo"}


@override_settings(TIME_ZONE=None)
def test_the_default_zone_is_utc_when_time_zone_is_unset():
    assert cron.default_timezone() == "UTC"


@override_settings(TASKS=DYNAMIC, TIME_ZONE="America/Chicago")
def test_dynamic_tasks_take_a_timezone():
    api.schedule_recurring_task(key="berlin", task_path=ADD, schedule="30 2 * * *", timezone=BERLIN)
    api.schedule_recurring_task(key="local", task_path=ADD, schedule="30 2 * * *")
    assert dict(RecurringTask.objects.values_list("key", "timezone")) == {"berlin": BERLIN, "local": "America/Chicago"}
    with pytest.raises(EnqueueError) as raised:
        api.schedule_recurring_task(key="typo", task_path=ADD, schedule="30 2 * * *", timezone="Europe/Berln")
    assert str(raised.value) == ("recurring task 'typo': timezone 'Europe/Berln' is not a known IANA time zone; "
                                 "did you mean 'Europe/Berlin'?")
    assert not RecurringTask.objects.filter(key="typo").exists()


def test_a_row_with_an_unknown_zone_is_logged_and_skipped(caplog):
    RecurringTask.objects.create(key="bad", schedule="* * * * *", task_path=ADD, timezone="Mars/Olympus",
                                 created_at=utc("2026-01-01T00:00"))
    RecurringTask.objects.create(key="good", schedule="* * * * *", task_path=ADD, args=[1, 2],
                                created_at=utc("2026-01-01T00:00"))
    fired = recurring.fire_due(now=utc("2026-01-02T00:00:30"), **KW)
    assert len(fired) == 1 and RecurringExecution.objects.get().task_key == "good"
    assert "recurring task 'bad' cannot be scheduled: 'No time zone found with key Mars/Olympus'" in caplog.text


def test_the_system_check_names_an_unknown_zone_and_the_nearest_one():
    options = {"recurring": {"nightly": {"task_path": ADD, "schedule": "30 2 * * *", "timezone": "Europe/Berln"}}}
    messages = backend_checks("default", {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                          "OPTIONS": options})
    assert [(m.id, m.msg) for m in messages] == [(
        "dj_queue.E005",
        "TASKS['default']['OPTIONS']['recurring']['nightly'] has an unknown timezone 'Europe/Berln'; "
        "did you mean 'Europe/Berlin'?",
    )]


def test_the_system_check_accepts_a_known_zone():
    options = {"recurring": {"nightly": {"task_path": ADD, "schedule": "30 2 * * *", "timezone": BERLIN}}}
    assert backend_checks("default", {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                                      "OPTIONS": options}) == []
