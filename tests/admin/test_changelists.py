"""Raw changelists: every model listed, read-only, with confirmed state-changing actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, Pause, ReadyExecution, RecurringTask, ScheduledExecution
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
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert f'<p id="djq-question">Retry failed job {job.pk} (tests.tasks_app.tasks.add)?</p>' in html
    assert FailedExecution.objects.exists()
    act(admin_client, "failedexecution", "retry_failed", [pk])
    assert ReadyExecution.objects.filter(job=job).exists() and not FailedExecution.objects.exists()


def test_failed_discard(admin_client):
    make_job("failed")
    act(admin_client, "failedexecution", "discard_executions", [FailedExecution.objects.get().pk])
    assert not Job.objects.exists()


@pytest.mark.parametrize("model", ["readyexecution", "scheduledexecution", "job"])
def test_cancel_keeps_the_record_as_a_cancelled_failure(admin_client, model):
    keep, drop = make_job("scheduled"), make_job("scheduled")
    ScheduledExecution.objects.filter(job=keep).update(queue_name="other")
    if model == "readyexecution":
        keep, drop = make_job("ready"), make_job("ready")
    pk = drop.pk if model == "job" else apps.get_model("dj_queue", model).objects.get(job=drop).pk

    response = act(admin_client, model, "cancel_jobs", [pk])

    failed = FailedExecution.objects.get()
    assert (failed.job_id, failed.exception_class) == (drop.pk, "dj_queue.exceptions.JobCancelledError")
    assert Job.objects.filter(pk=keep.pk, finished_at__isnull=True).exists()
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Cancelled 1 job; asked 0 running jobs to stop."]


def test_cancel_asks_running_jobs_to_stop_and_skips_finished_ones(admin_client):
    running, done = make_job("claimed"), make_job("finished")
    response = act(admin_client, "job", "cancel_jobs", [running.pk, done.pk])
    assert Job.objects.get(pk=running.pk).cancel_requested_at is not None
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Cancelled 0 jobs; asked 1 running job to stop. Skipped 1 job that already finished."]


def test_cancel_confirmation_lists_several_jobs(admin_client):
    first, second = make_job("ready", queue="mail"), make_job("ready", queue="<b>q</b>")
    html = act(admin_client, "job", "cancel_jobs", [first.pk, second.pk], confirm=False).content.decode()
    assert '<p id="djq-question">Cancel the 2 selected jobs?</p>' in html
    assert f"<li>Job {first.pk}: <code>tests.tasks_app.tasks.add</code> in queue mail</li>" in html
    assert "in queue &lt;b&gt;q&lt;/b&gt;</li>" in html and "<b>q</b>" not in html
    assert not FailedExecution.objects.exists()


def test_cancel_needs_the_change_job_permission(staff_client, django_user_model):
    job = make_job("ready")
    client = staff_client("dj_queue.view_job")
    assert "cancel_jobs" not in action_choices(client, "job")
    act(client, "job", "cancel_jobs", [job.pk])
    assert ReadyExecution.objects.filter(job=job).exists()

    user = django_user_model.objects.get(username="operator")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="dj_queue", codename="change_job"))
    assert "cancel_jobs" in action_choices(client, "job")
    act(client, "job", "cancel_jobs", [job.pk])
    assert FailedExecution.objects.filter(job=job).exists()


def action_choices(client, model) -> dict:
    form = client.get(f"/admin/dj_queue/{model}/").context["action_form"]
    return dict(form.fields["action"].choices) if form else {}


def test_job_changelist_filters_by_lifecycle_and_names_discarded_jobs(admin_client):
    retrying, rescued, cancelled, discarded = (make_job(s) for s in ("scheduled", "ready", "failed", "failed"))
    Job.objects.filter(pk=retrying.pk).update(last_attempted_at=timezone.now(), worker_ids=["w1"])
    Job.objects.filter(pk=rescued.pk).update(crashes=1)
    FailedExecution.objects.filter(job=cancelled).update(exception_class="dj_queue.exceptions.JobCancelledError")
    FailedExecution.objects.filter(job=discarded).update(
        exception_class="dj_queue.exceptions.ConcurrencyLimitDiscarded")

    def listed(value):
        changelist = admin_client.get("/admin/dj_queue/job/", {"lifecycle": value}).context["cl"]
        return [job.pk for job in changelist.result_list]

    assert (listed("retrying"), listed("rescued"), listed("cancelled")) == ([retrying.pk], [rescued.pk], [cancelled.pk])
    cl = admin_client.get("/admin/dj_queue/job/").context["cl"]
    states = {job.pk: cl.model_admin.state(job) for job in cl.result_list}
    assert states[cancelled.pk] == "cancelled" and states[discarded.pk] == "discarded"


def test_admin_index_names_the_app_and_hides_internal_tables(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "Task queue" in html and "Dj_queue" not in html and "Dj_Queue" not in html
    for shown in ("job", "failedexecution", "recurringtask"):
        assert f'href="/admin/dj_queue/{shown}/"' in html
    for hidden in ("readyexecution", "scheduledexecution", "blockedexecution", "claimedexecution",
                   "process", "pause", "semaphore", "recurringexecution"):
        assert f'href="/admin/dj_queue/{hidden}/"' not in html
        assert f'href="/admin/dj_queue/{hidden}/"' in admin_client.get("/admin/dj_queue/dashboard/").content.decode()


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


@pytest.mark.parametrize("model", ["job", "readyexecution", "failedexecution"])
def test_changelist_times_carry_seconds_zone_and_age(admin_client, model):
    job = make_job("failed" if model == "failedexecution" else "ready")
    html = admin_client.get(f"/admin/dj_queue/{model}/").content.decode()
    rows = apps.get_model("dj_queue", model).objects
    shown = job.enqueued_at if model == "job" else rows.get(job=job).created_at
    assert f'{shown:%Y-%m-%d %H:%M}:' in html and ' UTC</time> <span class="djq-ago">(' in html
