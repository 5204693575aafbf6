"""The red banner: ready jobs that no live worker serves, and processes that stopped beating."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import Pause, Process, ScheduledExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db
URL = "/admin/dj_queue/dashboard/"


def worker(name: str, queues: list[str], *, age: timedelta = timedelta(0)) -> Process:
    return Process.objects.create(kind="worker", name=name, pid=1, hostname="web-1", metadata={"queues": queues},
                                  last_heartbeat_at=timezone.now() - age)


def banner(client) -> str:
    html = client.get(URL).content.decode()
    found = re.search(r'<div class="djq-banner".*?</div>', html, re.S)
    return found.group(0) if found else ""


def test_no_banner_when_a_live_worker_serves_every_queue_with_ready_jobs(admin_client):
    make_job("ready", queue="mail")
    make_job("ready", queue="reports-daily")
    worker("w1", ["mail", "reports*"])
    assert banner(admin_client) == ""
    assert admin_client.get(URL).context["health"].ok


def test_banner_names_queues_with_ready_jobs_and_no_live_worker(admin_client):
    make_job("ready", queue="mail")
    make_job("ready", queue="mail")
    make_job("ready", queue="billing")
    make_job("scheduled", queue="later")  # nothing ready: nobody needs to serve it yet
    worker("w1", ["billing"])
    worker("w2", ["mail"], age=timedelta(hours=1))  # dead: does not count

    text = banner(admin_client)

    assert 'data-unserved="mail"' in text and "which has 2 ready jobs" in text
    assert 'data-unserved="billing"' not in text and 'data-unserved="later"' not in text
    assert "No worker is alive" not in text


def test_banner_when_no_worker_runs_at_all_and_paused_queues_are_not_reported(admin_client):
    make_job("ready", queue="mail")
    make_job("ready", queue="held")
    Pause.objects.create(queue_name="held")

    text = banner(admin_client)

    assert "No worker is alive (is <code>manage.py dj_queue</code> running?)" in text
    assert 'data-unserved="mail">mail</a> (1).' in text and 'data-unserved="held"' not in text


def test_banner_when_scheduled_jobs_are_due_and_no_dispatcher_is_alive(admin_client):
    due = make_job("scheduled")
    ScheduledExecution.objects.filter(job=due).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    make_job("scheduled")  # due in an hour: not stuck yet
    worker("w1", ["*"])

    assert admin_client.get(URL).context["health"].due_undispatched == 1
    assert ("1 scheduled job (retries among them) is due and no dispatcher is alive to move it to ready."
            in banner(admin_client))
    Process.objects.create(kind="dispatcher", name="d1", pid=2)
    assert banner(admin_client) == ""


def test_banner_names_stale_processes_by_the_alive_threshold(admin_client, settings):
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"process_alive_threshold": 60}}}
    worker("fresh", ["*"], age=timedelta(seconds=30))
    worker("<b>late</b>", ["*"], age=timedelta(seconds=90))

    text = banner(admin_client)

    assert 'data-stale="1"' in text and "1 process stopped sending heartbeats (none for over 60 s" in text
    assert "worker &lt;b&gt;late&lt;/b&gt; on web-1, last heartbeat" in text and "<b>late</b>" not in text
    assert "fresh" not in text and "min 30 s ago)" in text


def test_banner_counts_every_stale_process_but_names_five(admin_client):
    for index in range(7):
        Process.objects.create(kind="dispatcher", name=f"d{index}", pid=index,
                               last_heartbeat_at=timezone.now() - timedelta(hours=1, minutes=index))
    health = admin_client.get(URL).context["health"]
    assert health.stale_count == 7 and [p.name for p in health.stale] == ["d6", "d5", "d4", "d3", "d2"]
    assert "the processes table lists them all" in banner(admin_client)


def test_queue_status_says_active_or_paused_never_running(admin_client):
    make_job("claimed", queue="busy")
    make_job("ready", queue="idle")
    Pause.objects.create(queue_name="idle")
    html = admin_client.get(URL).content.decode()
    busy = html[html.index('data-queue="busy"'):].split("</tr>")[0]
    idle = html[html.index('data-queue="idle"'):].split("</tr>")[0]
    assert '<td data-label="Running">1</td>' in busy and ">active</span>" in busy and ">paused<" not in busy
    assert ">paused</span>" in idle and ">active<" not in idle
    assert ">running</span>" not in html
