"""Raw changelists: every model listed, read-only, with confirmed state-changing actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from dj_queue.models import FailedExecution, Job, Pause, ReadyExecution, RecurringTask
from tests.factories import make_job

pytestmark = pytest.mark.django_db
MODELS = ["job", "readyexecution", "scheduledexecution", "blockedexecution", "claimedexecution",
          "failedexecution", "process", "pause", "semaphore", "recurringtask", "recurringexecution"]


def act(client, model, action, pks, confirm=True):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], "index": "0"}
    if confirm:
        data["confirm"] = "yes"
    return client.post(f"/admin/dj_queue/{model}/", data)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_read_only_changelist(admin_client, model):
    make_job("failed")
    response = admin_client.get(f"/admin/dj_queue/{model}/")
    assert response.status_code == 200
    assert f"/admin/dj_queue/{model}/add/" not in response.content.decode()
    assert admin_client.get(f"/admin/dj_queue/{model}/add/").status_code == 403


def test_job_detail_page_is_view_only(admin_client):
    job = make_job("ready")
    response = admin_client.get(f"/admin/dj_queue/job/{job.pk}/change/")
    assert response.status_code == 200 and 'name="_save"' not in response.content.decode()
    assert admin_client.post(f"/admin/dj_queue/job/{job.pk}/change/", {"queue_name": "x"}).status_code == 403


def test_job_changelist_shows_state(admin_client):
    for state in ("ready", "failed", "finished"):
        make_job(state)
    states = [admin_client.get("/admin/dj_queue/job/").context["cl"].model_admin.state(job)
              for job in admin_client.get("/admin/dj_queue/job/").context["cl"].result_list]
    assert sorted(states) == ["failed", "finished", "ready"]


def test_failed_retry_asks_then_retries(admin_client):
    job = make_job("failed")
    pk = FailedExecution.objects.get().pk
    confirm = act(admin_client, "failedexecution", "retry_failed", [pk], confirm=False)
    assert confirm.status_code == 200 and "Retry the 1 selected failed jobs" in confirm.content.decode()
    assert FailedExecution.objects.exists()
    act(admin_client, "failedexecution", "retry_failed", [pk])
    assert ReadyExecution.objects.filter(job=job).exists() and not FailedExecution.objects.exists()


def test_failed_discard(admin_client):
    make_job("failed")
    act(admin_client, "failedexecution", "discard_executions", [FailedExecution.objects.get().pk])
    assert not Job.objects.exists()


def test_ready_discard(admin_client):
    keep, drop = make_job("ready"), make_job("ready")
    act(admin_client, "readyexecution", "discard_executions", [ReadyExecution.objects.get(job=drop).pk])
    assert list(Job.objects.values_list("pk", flat=True)) == [keep.pk]


def test_job_discard_refuses_running_jobs(admin_client):
    running, ready = make_job("claimed"), make_job("ready")
    response = act(admin_client, "job", "discard_jobs", [running.pk, ready.pk])
    assert response.status_code == 302 and Job.objects.count() == 2
    act(admin_client, "job", "discard_jobs", [ready.pk])
    assert list(Job.objects.values_list("pk", flat=True)) == [running.pk]


def test_job_enqueue_again(admin_client):
    old = make_job("finished")
    act(admin_client, "job", "enqueue_again", [old.pk])
    assert ReadyExecution.objects.get().job.args == old.args


def test_pause_resume_and_recurring_unschedule(admin_client):
    pause = Pause.objects.create(queue_name="q")
    act(admin_client, "pause", "resume_queues", [pause.pk])
    assert not Pause.objects.exists()
    dynamic = RecurringTask.objects.create(key="d", schedule="* * * * *", task_path="a.b", static=False)
    static = RecurringTask.objects.create(key="s", schedule="* * * * *", task_path="a.b", static=True)
    act(admin_client, "recurringtask", "unschedule", [dynamic.pk, static.pk])
    assert list(RecurringTask.objects.values_list("key", flat=True)) == ["s"]


def test_actions_need_their_permission(staff_client):
    make_job("failed")
    client = staff_client("dj_queue.view_failedexecution")
    assert client.get("/admin/dj_queue/failedexecution/").context["action_form"] is None
    act(client, "failedexecution", "retry_failed", [FailedExecution.objects.get().pk])
    assert FailedExecution.objects.exists()


def test_actions_appear_with_their_permission(staff_client):
    client = staff_client("dj_queue.view_failedexecution", "dj_queue.change_failedexecution")
    make_job("failed")
    actions = dict(client.get("/admin/dj_queue/failedexecution/").context["action_form"].fields["action"].choices)
    assert "retry_failed" in actions and "discard_executions" not in actions
