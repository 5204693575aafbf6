"""Every stored value is shown as text: a stored ``<script>`` never reaches the page as markup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import (
    BlockedExecution,
    FailedExecution,
    Job,
    Pause,
    Process,
    RecurringExecution,
    RecurringTask,
    Semaphore,
)
from tests.factories import make_job

pytestmark = pytest.mark.django_db
EVIL = "<script>alert(1)</script>"
MODELS = ["job", "readyexecution", "scheduledexecution", "blockedexecution", "claimedexecution",
          "failedexecution", "process", "pause", "semaphore", "recurringtask", "recurringexecution"]


@pytest.fixture
def evil_rows():
    for state in ("ready", "scheduled", "claimed", "failed", "finished"):
        make_job(state, queue=EVIL, args=[EVIL], kwargs={EVIL: EVIL}, task_path=EVIL)
    failed = FailedExecution.objects.get()
    FailedExecution.objects.filter(pk=failed.pk).update(message=EVIL, traceback=EVIL, exception_class=EVIL)
    Job.objects.filter(finished_at__isnull=False, failed_execution__isnull=True).update(return_value=EVIL)
    blocked = Job.objects.create(task_path=EVIL, queue_name=EVIL, args=[EVIL], concurrency_key=EVIL)
    later = timezone.now() + timedelta(minutes=5)
    BlockedExecution.objects.create(job=blocked, queue_name=EVIL, concurrency_key=EVIL, expires_at=later)
    Process.objects.create(kind="worker", name=EVIL, hostname=EVIL, pid=1, metadata={EVIL: EVIL})
    Pause.objects.create(queue_name=EVIL + "2")
    Semaphore.objects.create(key=EVIL, expires_at=later)
    RecurringTask.objects.create(key=EVIL, schedule="* * * * *", task_path=EVIL, static=False, description=EVIL)
    RecurringExecution.objects.create(task_key=EVIL, run_at=timezone.now())
    return failed.job


def assert_escaped(response) -> None:
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dashboard_pages_escape_stored_values(admin_client, evil_rows):
    assert_escaped(admin_client.get("/admin/dj_queue/dashboard/"))
    for state in ("ready", "scheduled", "blocked", "claimed", "failed", "finished"):
        assert_escaped(admin_client.get(f"/admin/dj_queue/dashboard/jobs/{state}/"))
    assert_escaped(admin_client.get(f"/admin/dj_queue/dashboard/job/{evil_rows.pk}/"))


def test_confirmation_page_escapes_what_it_repeats(admin_client, evil_rows):
    response = admin_client.post("/admin/dj_queue/dashboard/action/",
                                 {"op": "pause", "queue": EVIL, "backend": "default"})
    assert_escaped(response)


@pytest.mark.parametrize("model", MODELS)
def test_changelists_and_detail_pages_escape_stored_values(admin_client, evil_rows, model):
    assert_escaped(admin_client.get(f"/admin/dj_queue/{model}/"))
    from django.apps import apps

    row = apps.get_model("dj_queue", model).objects.first()
    assert_escaped(admin_client.get(f"/admin/dj_queue/{model}/{row.pk}/change/"))


def test_lifecycle_fields_and_banner_escape_stored_values(admin_client, evil_rows):
    entry = {"exception_class": EVIL, "message": EVIL, "traceback": EVIL, "worker_id": EVIL, "failed_at": EVIL}
    Job.objects.filter(pk=evil_rows.pk).update(worker_ids=[EVIL, EVIL], errors=[entry, entry], crashes=1,
                                                cancel_requested_at=timezone.now())
    Process.objects.filter(name=EVIL).update(last_heartbeat_at=timezone.now() - timedelta(days=1))
    dashboard = admin_client.get("/admin/dj_queue/dashboard/")
    assert 'id="djq-banner"' in dashboard.content.decode()
    assert_escaped(dashboard)
    page = admin_client.get(f"/admin/dj_queue/dashboard/job/{evil_rows.pk}/")
    assert_escaped(page)
    assert len(page.context["history"]) == 2


def test_confirmations_naming_jobs_escape_them(admin_client, evil_rows):
    ready = list(Job.objects.filter(ready_execution__isnull=False).values_list("pk", flat=True))
    blocked = list(Job.objects.filter(blocked_execution__isnull=False).values_list("pk", flat=True))
    one = admin_client.post("/admin/dj_queue/dashboard/action/",
                            {"op": "cancel", "state": "ready", "ids": ready, "backend": "default"})
    several = admin_client.post("/admin/dj_queue/dashboard/action/",
                                {"op": "cancel", "state": "ready", "ids": ready + blocked, "backend": "default"})
    assert_escaped(one)
    assert_escaped(several)
    assert several.content.decode().count("<li>Job ") == 2
