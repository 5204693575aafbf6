"""The overview page: summary cards, queues, processes, recurring tasks, semaphores, backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from dj_queue.dashboard.backends import Backend
from dj_queue.dashboard.queries import queue_rows, summary
from dj_queue.models import BlockedExecution, Job, Pause, Process, RecurringExecution, RecurringTask, Semaphore
from tests.factories import make_job

pytestmark = pytest.mark.django_db
URL = "/admin/dj_queue/dashboard/"


def test_url_is_served_by_the_admin_site():
    assert reverse("admin:dj_queue_dashboard") == URL


def test_summary_counts_each_state(admin_client):
    for state, count in [("ready", 3), ("scheduled", 2), ("claimed", 1), ("failed", 4), ("finished", 5)]:
        for _ in range(count):
            make_job(state)
    old = make_job("finished")
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    blocked = make_job("finished")
    Job.objects.filter(pk=blocked.pk).update(finished_at=None, concurrency_key="k")
    BlockedExecution.objects.create(job=blocked, queue_name="default", concurrency_key="k",
                                    expires_at=timezone.now() + timedelta(minutes=1))

    response = admin_client.get(URL)

    assert response.status_code == 200
    counts = response.context["counts"]
    assert counts == {"ready": 3, "scheduled": 2, "blocked": 1, "claimed": 1, "failed": 4,
                      "finished_recently": 5}
    assert b'data-count="failed"><strong>4</strong>' in response.content


def test_queues_table_shows_counts_latency_and_pauses(admin_client):
    make_job("ready", queue="emails")
    make_job("ready", queue="emails")
    make_job("failed", queue="emails")
    make_job("scheduled", queue="reports")
    Pause.objects.create(queue_name="idle")

    rows = {row.name: row for row in admin_client.get(URL).context["queues"].page.object_list}

    assert set(rows) == {"emails", "reports", "idle"}
    assert (rows["emails"].ready, rows["emails"].failed, rows["emails"].paused) == (2, 1, False)
    assert rows["emails"].latency is not None and rows["emails"].latency >= timedelta(0)
    assert rows["reports"].scheduled == 1 and rows["reports"].latency is None
    assert rows["idle"].paused


def test_queues_sort_and_paginate(admin_client):
    for index in range(30):
        for _ in range(index % 4):
            make_job("ready", queue=f"q{index:02d}")
    Pause.objects.bulk_create([Pause(queue_name=f"q{i:02d}") for i in range(0, 30, 4)])

    first = admin_client.get(URL, {"q_o": "-ready"}).context["queues"]
    assert first.paginator.count == 30 and len(first.page.object_list) == 25
    assert [r.ready for r in first.page.object_list][:8] == [3] * 7 + [2]
    second = admin_client.get(URL, {"q_o": "name", "q_p": 2}).context["queues"]
    assert [r.name for r in second.page.object_list] == [f"q{i}" for i in range(25, 30)]
    assert admin_client.get(URL, {"q_o": "no_such_column"}).status_code == 200


def test_processes_show_heartbeat_age_and_highlight_stale_ones(admin_client, settings):
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"process_alive_threshold": 60}}}
    Process.objects.create(kind="worker", name="fresh-one", hostname="web-1", pid=101)
    Process.objects.create(kind="dispatcher", name="old-one", hostname="web-2", pid=202,
                           last_heartbeat_at=timezone.now() - timedelta(minutes=10))

    response = admin_client.get(URL)
    html = response.content.decode()

    assert "fresh-one" in html and "web-2" in html and ">202<" in html
    assert html.count('class="djq-stale"') == 1
    stale_row = html[html.index('class="djq-stale"'):]
    assert "old-one" in stale_row.split("</tr>")[0]
    assert "after 60 s without a heartbeat" in html


def test_recurring_tasks_show_last_and_next_run(admin_client):
    RecurringTask.objects.create(key="nightly", schedule="0 3 * * *", task_path="tests.tasks_app.tasks.noop")
    run_at = timezone.now().replace(microsecond=0) - timedelta(days=1)
    RecurringExecution.objects.create(task_key="nightly", run_at=run_at)

    task = admin_client.get(URL).context["recurring"].page.object_list[0]

    assert task.last_run == run_at
    assert task.next_run > timezone.now() and task.next_run.hour == 3


def test_recurring_tasks_show_their_zone_and_next_run_in_it(admin_client):
    from zoneinfo import ZoneInfo

    RecurringTask.objects.create(key="berlin", schedule="0 3 * * *", task_path="tests.tasks_app.tasks.noop",
                                 timezone="Europe/Berlin")

    response = admin_client.get(URL)

    task = response.context["recurring"].page.object_list[0]
    assert task.next_run.astimezone(ZoneInfo("Europe/Berlin")).hour == 3
    assert '<span class="djq-muted" data-timezone="berlin">Europe/Berlin</span>' in response.content.decode()


def test_semaphores_are_listed(admin_client):
    Semaphore.objects.create(key="account:7", value=0, expires_at=timezone.now() + timedelta(minutes=5))
    assert "account:7" in admin_client.get(URL).content.decode()


@override_settings(TASKS={
    "default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}},
    "other": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}},
    "dummy": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"},
})
def test_backend_picker_switches_between_dj_queue_aliases(admin_client):
    make_job("ready", queue="mine", backend_alias="other")

    default_page = admin_client.get(URL)
    other_page = admin_client.get(URL, {"backend": "other"})

    assert '?backend=other"' in default_page.content.decode()
    assert "?backend=dummy" not in default_page.content.decode()
    assert default_page.context["counts"]["ready"] == 0
    assert other_page.context["counts"]["ready"] == 1
    assert admin_client.get(URL, {"backend": "dummy"}).status_code == 404


def test_dashboard_is_listed_on_the_admin_index(admin_client):
    assert f'href="{URL}"' in admin_client.get("/admin/").content.decode()


def test_summary_from_queue_rows_matches_the_counts():
    for state, queue in [("ready", "a"), ("ready", "b"), ("scheduled", "a"), ("claimed", "c"), ("failed", "b"),
                         ("failed", "b"), ("finished", "a")]:
        make_job(state, queue=queue)
    backend = Backend(alias="default", using="default", options={})
    counted = summary(backend)
    assert summary(backend, queue_rows(backend)) == counted
    assert counted == {"ready": 2, "scheduled": 1, "blocked": 0, "claimed": 1, "failed": 2, "finished_recently": 1}
