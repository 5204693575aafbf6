"""Dashboard actions: POST only, confirmed, permission-checked, and done through operations."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from dj_queue.models import FailedExecution, Job, Pause, ReadyExecution, RecurringTask
from tests.factories import make_job

pytestmark = pytest.mark.django_db
ACTION = "/admin/dj_queue/dashboard/action/"


def post(client, confirm=True, **data):
    data = {"backend": "default", "next": "/admin/dj_queue/dashboard/", **data}
    if confirm:
        data["confirm"] = "yes"
    return client.post(ACTION, data)


def test_get_is_not_allowed(admin_client):
    assert admin_client.get(ACTION, {"op": "pause", "queue": "q"}).status_code == 405


def test_first_post_only_asks_for_confirmation(admin_client):
    response = post(admin_client, confirm=False, op="pause", queue="mail")
    html = response.content.decode()
    assert response.status_code == 200 and not Pause.objects.exists()
    assert "Pause queue &#x27;mail&#x27;" in html and 'name="confirm" value="yes"' in html
    assert 'name="queue" value="mail"' in html


def test_pause_resume_and_clear(admin_client):
    make_job("ready", queue="mail")
    make_job("failed", queue="mail")

    assert post(admin_client, op="pause", queue="mail").status_code == 302
    assert Pause.objects.filter(queue_name="mail").exists()
    post(admin_client, op="resume", queue="mail")
    assert not Pause.objects.exists()
    response = post(admin_client, op="clear", queue="mail")
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == "Discarded 1 ready job of queue 'mail'."
    assert not ReadyExecution.objects.exists() and FailedExecution.objects.count() == 1


def test_retry_and_discard_selected_failed_jobs(admin_client):
    first, second, third = (make_job("failed") for _ in range(3))
    post(admin_client, op="retry", state="failed", ids=[first.pk])
    assert ReadyExecution.objects.filter(job=first).exists()
    post(admin_client, op="discard", state="failed", ids=[second.pk])
    assert not Job.objects.filter(pk=second.pk).exists() and Job.objects.filter(pk=third.pk).exists()


def test_retry_all_and_discard_all_within_a_queue(admin_client):
    mail = [make_job("failed", queue="mail") for _ in range(3)]
    other = make_job("failed", queue="other")
    post(admin_client, op="retry", state="failed", queue="mail", all="1")
    assert ReadyExecution.objects.filter(job__in=mail).count() == 3
    assert FailedExecution.objects.filter(job=other).exists()
    post(admin_client, op="discard", state="failed", all="1")
    assert not FailedExecution.objects.exists() and ReadyExecution.objects.filter(job__in=mail).count() == 3


def test_discard_ignores_ids_in_another_state(admin_client):
    running = make_job("claimed")
    failed = make_job("failed")
    post(admin_client, op="discard", state="failed", ids=[running.pk, failed.pk])
    assert Job.objects.filter(pk=running.pk).exists() and not Job.objects.filter(pk=failed.pk).exists()


def test_waiting_jobs_are_cancelled_not_discarded(admin_client):
    ready = make_job("ready")
    response = post(admin_client, op="discard", state="ready", ids=[ready.pk])
    assert "discard does not apply to ready jobs" in str(list(get_messages(response.wsgi_request))[-1])
    assert ReadyExecution.objects.filter(job=ready).exists()


def test_enqueue_again_makes_a_new_job_with_the_same_call(admin_client):
    old = make_job("finished", queue="mail", priority=7, args=[4, 5], kwargs={})
    response = post(admin_client, op="enqueue_again", state="finished", ids=[old.pk])
    new = Job.objects.exclude(pk=old.pk).get()
    assert (new.task_path, new.queue_name, new.priority, new.args) == (old.task_path, "mail", 7, [4, 5])
    assert ReadyExecution.objects.filter(job=new).exists()
    assert str(new.pk) in [str(m) for m in get_messages(response.wsgi_request)][-1]


def test_unschedule_removes_dynamic_tasks_only(admin_client):
    RecurringTask.objects.create(key="dyn", schedule="* * * * *", task_path="x.y", static=False)
    RecurringTask.objects.create(key="stat", schedule="* * * * *", task_path="x.y", static=True)
    post(admin_client, op="unschedule", key="dyn")
    post(admin_client, op="unschedule", key="stat")
    assert list(RecurringTask.objects.values_list("key", flat=True)) == ["stat"]


def test_bad_requests_get_clear_messages_not_tracebacks(admin_client):
    assert post(admin_client, op="explode").status_code == 400
    response = post(admin_client, op="retry", state="failed", ids=["abc"])
    assert response.status_code == 302
    assert "job ids must be numbers" in str(list(get_messages(response.wsgi_request))[-1])
    response = post(admin_client, op="retry", state="ready", ids=[1])
    assert "does not apply to ready jobs" in str(list(get_messages(response.wsgi_request))[-1])


@pytest.mark.parametrize("data, message", [
    ({"op": "cancel", "state": "ready", "ids": ["9223372036854775808"]}, "job ids must be numbers"),
    ({"op": "retry", "state": "failed", "ids": ["99999999999999999999999"]}, "job ids must be numbers"),
    ({"op": "enqueue_again", "all": "1"}, "enqueue again takes selected jobs, not all of a list"),
    ({"op": "enqueue_again", "state": "failed", "all": "1"}, "enqueue again takes selected jobs, not all of a list"),
])
@pytest.mark.parametrize("confirm", [False, True])
def test_requests_no_action_can_do_are_messages_not_server_errors(admin_client, data, message, confirm):
    make_job("failed")
    response = post(admin_client, confirm=confirm, **data)
    assert response.status_code == 302
    assert message in str(list(get_messages(response.wsgi_request))[-1])


def test_the_job_page_of_another_backends_job_is_not_found(admin_client):
    job = make_job("ready", backend_alias="elsewhere")
    assert admin_client.get(f"/admin/dj_queue/dashboard/job/{job.pk}/?backend=default").status_code == 404


def test_the_all_buttons_act_on_the_queue_the_list_was_filtered_by(admin_client):
    make_job("ready", queue="default")
    page = admin_client.get("/admin/dj_queue/dashboard/jobs/ready/", {"queue": " default"})
    assert page.context["queue"] == "default"  # cleaned, as the list applied it


def test_next_must_stay_on_this_site(admin_client):
    response = post(admin_client, op="pause", queue="q", next="https://evil.example/")
    assert response["Location"] == "/admin/dj_queue/dashboard/"
