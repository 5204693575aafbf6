"""Changelist additions: "run now" on scheduled executions, search on failed executions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages

from dj_queue.models import FailedExecution, ReadyExecution, ScheduledExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db
SCHEDULED = "/admin/dj_queue/scheduledexecution/"


def run_now(client, pks, confirm=True):
    data = {"action": "run_now", ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], "index": "0"}
    if confirm:
        data["confirm"] = "yes"
    return client.post(SCHEDULED, data)


def test_run_now_asks_then_moves_the_selected_jobs(admin_client):
    jobs = [make_job("scheduled") for _ in range(2)]
    kept = make_job("scheduled")
    pks = list(ScheduledExecution.objects.filter(job__in=jobs).values_list("pk", flat=True))

    html = run_now(admin_client, pks, confirm=False).content.decode()
    assert '<p id="djq-question">Run now the 2 selected scheduled jobs?</p>' in html
    assert not ReadyExecution.objects.exists()

    response = run_now(admin_client, pks)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Moved 2 scheduled jobs to ready."]
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == {job.pk for job in jobs}
    assert ScheduledExecution.objects.get().job_id == kept.pk


def test_run_now_needs_the_change_job_permission(staff_client):
    make_job("scheduled")
    client = staff_client("dj_queue.view_scheduledexecution", "dj_queue.view_job")
    form = client.get(SCHEDULED).context["action_form"]
    assert form is None or "run_now" not in dict(form.fields["action"].choices)
    run_now(client, list(ScheduledExecution.objects.values_list("pk", flat=True)))
    assert not ReadyExecution.objects.exists()


def test_failed_executions_search_task_and_exception(admin_client):
    smtp = make_job("failed", task_path="shop.tasks.send_receipt")
    FailedExecution.objects.filter(job=smtp).update(exception_class="smtplib.SMTPException")
    make_job("failed", task_path="shop.tasks.refund")

    def found(q):
        changelist = admin_client.get("/admin/dj_queue/failedexecution/", {"q": q}).context["cl"]
        return [row.job_id for row in changelist.result_list]

    assert found("SMTP") == [smtp.pk] and found("send_receipt") == [smtp.pk] and len(found("shop")) == 2
