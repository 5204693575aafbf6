"""Filters on the job lists, "all" actions on the filtered set, and the job id lookup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, ReadyExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db
JOBS = "/admin/dj_queue/dashboard/jobs/{}/"
ACTION = "/admin/dj_queue/dashboard/action/"
LOOKUP = "/admin/dj_queue/dashboard/lookup/"


def listed(client, state: str, **params) -> list[int]:
    response = client.get(JOBS.format(state), params)
    assert response.status_code == 200
    return [job.pk for job, _ in response.context["table"].rows]


def failed(task: str, exception: str = "builtins.ValueError", **fields) -> Job:
    job = make_job("failed", task_path=task, **fields)
    FailedExecution.objects.filter(job=job).update(exception_class=exception)
    return job


def test_task_and_exception_filters(admin_client):
    receipt = failed("shop.tasks.send_receipt", "smtplib.SMTPException")
    refund = failed("shop.tasks.refund", "smtplib.SMTPException")
    other = failed("shop.tasks.send_receipt", "builtins.KeyError")

    assert listed(admin_client, "failed", task="send_rec", jobs_o="job_id") == [receipt.pk, other.pk]
    assert listed(admin_client, "failed", exception="smtpexception", jobs_o="job_id") == [receipt.pk, refund.pk]
    assert listed(admin_client, "failed", task="receipt", exception="SMTP") == [receipt.pk]


def test_queue_filter_applies_to_every_state(admin_client):
    mail = make_job("scheduled", queue="mail")
    make_job("scheduled", queue="other")
    assert listed(admin_client, "scheduled", queue="mail") == [mail.pk]


def test_enqueued_range(admin_client):
    now = timezone.now()
    old = make_job("ready", enqueued_at=now - timedelta(days=2))
    recent = make_job("ready", enqueued_at=now - timedelta(minutes=5))
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    assert listed(admin_client, "ready", enqueued_after=since) == [recent.pk]
    assert listed(admin_client, "ready", enqueued_before=until) == [old.pk]


def test_finished_range_on_finished_jobs(admin_client):
    now = timezone.now()
    old, recent = make_job("finished"), make_job("finished")
    Job.objects.filter(pk=old.pk).update(finished_at=now - timedelta(hours=3))
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")

    assert listed(admin_client, "finished", finished_after=since) == [recent.pk]


def test_a_bad_date_is_reported_and_not_applied(admin_client):
    job = make_job("ready")
    response = admin_client.get(JOBS.format("ready"), {"enqueued_after": "yesterday"})
    html = response.content.decode()
    assert [j.pk for j, _ in response.context["table"].rows] == [job.pk]
    assert "Enqueued after: Enter a valid date/time." in html


def test_filter_form_offers_only_fields_of_the_state(admin_client):
    ready = admin_client.get(JOBS.format("ready")).content.decode()
    failed_page = admin_client.get(JOBS.format("failed")).content.decode()
    assert 'name="task"' in ready and 'name="exception"' not in ready and 'name="finished_after"' not in ready
    assert 'name="exception"' in failed_page and 'name="finished_after"' in failed_page


def test_retry_all_matching_names_the_count_and_the_filter(admin_client):
    matching = [failed("shop.tasks.send_receipt", "smtplib.SMTPException") for _ in range(3)]
    others = [failed("shop.tasks.send_receipt", "builtins.KeyError"), failed("shop.tasks.refund")]

    html = admin_client.get(JOBS.format("failed"), {"exception": "SMTP"}).content.decode()
    assert 'data-op="retry">Retry all 3 matching failed jobs</button>' in html
    assert '<input type="hidden" name="exception" value="SMTP">' in html

    form = {"backend": "default", "op": "retry", "state": "failed", "all": "1", "exception": "SMTP",
            "next": JOBS.format("failed")}
    question = admin_client.post(ACTION, form).content.decode()
    assert "Retry all 3 failed jobs matching exception class contains &#x27;SMTP&#x27;?" in question
    assert '<input type="hidden" name="exception" value="SMTP">' in question

    response = admin_client.post(ACTION, {**form, "confirm": "yes"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Retried 3 failed jobs."]
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == {j.pk for j in matching}
    assert FailedExecution.objects.filter(job__in=others).count() == 2


def test_cancel_all_matching_in_a_queue_and_time_range(admin_client):
    now = timezone.now()
    new = make_job("ready", queue="mail", task_path="shop.tasks.ping")
    make_job("ready", queue="mail", task_path="shop.tasks.ping", enqueued_at=now - timedelta(days=1))
    make_job("ready", queue="other", task_path="shop.tasks.ping")
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"backend": "default", "op": "cancel", "state": "ready", "all": "1", "queue": "mail",
            "task": "ping", "enqueued_after": since, "next": JOBS.format("ready")}

    question = admin_client.post(ACTION, form).content.decode()
    shown = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    assert (f"Cancel all 1 ready job in queue &#x27;mail&#x27; matching task contains &#x27;ping&#x27;, "
            f"enqueued after {shown}") in question
    admin_client.post(ACTION, {**form, "confirm": "yes"})
    assert FailedExecution.objects.get().job_id == new.pk
    assert ReadyExecution.objects.count() == 2


def test_all_action_with_a_bad_filter_does_nothing(admin_client):
    make_job("failed")
    response = admin_client.post(ACTION, {"backend": "default", "op": "retry", "state": "failed", "all": "1",
                                          "finished_after": "soon", "confirm": "yes"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Retry: the filter is not valid (finished after: Enter a valid date/time)."]
    assert FailedExecution.objects.count() == 1


def test_lookup_jumps_to_the_job_page(admin_client):
    job = make_job("ready")
    response = admin_client.get(LOOKUP, {"id": f" {job.pk} ", "backend": "default"})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/dj_queue/dashboard/job/{job.pk}/?backend=default"


@pytest.mark.parametrize("typed, message", [
    ("999999", "No job 999999 in backend 'default'."),
    ("abc", "Job ids are whole numbers; 'abc' is not one."),
    ("²", "Job ids are whole numbers; '²' is not one."),
    ("9" * 30, f"No job {'9' * 30} in backend 'default'."),
])
def test_lookup_of_an_unknown_job_says_so(admin_client, typed, message):
    response = admin_client.get(LOOKUP, {"id": typed}, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/dj_queue/dashboard/?backend=default"
    assert [str(m) for m in response.context["messages"]] == [message]


def test_every_page_has_the_lookup_box(admin_client):
    job = make_job("ready")
    for url in ("/admin/dj_queue/dashboard/", JOBS.format("ready"), f"/admin/dj_queue/dashboard/job/{job.pk}/"):
        assert 'id="djq-lookup"' in admin_client.get(url).content.decode(), url


def test_lookup_needs_the_view_permission(staff_client):
    assert staff_client().get(LOOKUP, {"id": "1"}).status_code == 403
