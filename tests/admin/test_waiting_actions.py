"""Dashboard actions on waiting jobs: run a scheduled job now, change a waiting job's priority."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from dj_queue.models import BlockedExecution, Job, ReadyExecution, ScheduledExecution
from tests.factories import make_job
from tests.tasks_app.tasks import sync_account

pytestmark = pytest.mark.django_db
ACTION = "/admin/dj_queue/dashboard/action/"
JOBS = "/admin/dj_queue/dashboard/jobs/{}/"


def post(client, confirm=True, **data) -> list[str]:
    data = {"backend": "default", "next": "/admin/dj_queue/dashboard/", **data}
    if confirm:
        data["confirm"] = "yes"
    response = client.post(ACTION, data)
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_run_now_asks_then_moves_the_job_to_ready(admin_client):
    job = make_job("scheduled", task_path="shop.tasks.report")
    question = admin_client.post(ACTION, {"backend": "default", "op": "run_now", "state": "scheduled",
                                          "ids": job.pk}).content.decode()
    assert f"Run now scheduled job {job.pk} (shop.tasks.report)?" in question
    assert ScheduledExecution.objects.filter(job=job).exists()

    assert post(admin_client, op="run_now", state="scheduled", ids=job.pk) == ["Moved 1 scheduled job to ready."]
    assert ReadyExecution.objects.filter(job=job).exists()


def test_run_all_matching_scheduled_jobs_now_reports_blocked_ones(admin_client):
    sync_account.enqueue(4)
    soon = timezone.now() + timedelta(hours=1)
    keyed = sync_account.using(run_after=soon).enqueue(4)
    plain = [make_job("scheduled", queue="mail") for _ in range(2)]
    untouched = make_job("scheduled", queue="other")

    messages = post(admin_client, op="run_now", state="scheduled", all="1", task="sync_account")
    assert messages == ["Moved 0 scheduled jobs to ready; 1 blocked by a concurrency limit."]
    assert BlockedExecution.objects.filter(job_id=int(keyed.id)).exists()
    assert post(admin_client, op="run_now", state="scheduled", all="1", queue="mail")[-1] == (
        "Moved 2 scheduled jobs to ready.")
    assert ReadyExecution.objects.filter(job__in=plain).count() == 2
    assert ScheduledExecution.objects.filter(job=untouched).exists()


@pytest.mark.parametrize("state", ["ready", "scheduled", "blocked"])
def test_change_priority_of_selected_jobs(admin_client, state):
    if state == "blocked":
        sync_account.enqueue(5)
        job = Job.objects.get(pk=int(sync_account.enqueue(5).id))
    else:
        job = make_job(state, priority=1)
    question = admin_client.post(ACTION, {"backend": "default", "op": "change_priority", "state": state,
                                          "ids": job.pk, "priority": "-7"}).content.decode()
    assert f"Set the priority of {state} job {job.pk} ({job.task_path}) to -7?" in question
    assert '<input type="hidden" name="priority" value="-7">' in question

    assert post(admin_client, op="change_priority", state=state, ids=job.pk, priority="-7") == [
        "Set the priority of 1 job to -7."]
    assert Job.objects.get(pk=job.pk).priority == -7


@pytest.mark.parametrize("typed", ["101", "high", "", "2.5", "--5", "²", "-101"])
def test_change_priority_refuses_a_bad_priority(admin_client, typed):
    job = make_job("ready", priority=1)
    assert post(admin_client, op="change_priority", state="ready", ids=job.pk, priority=typed) == [
        f"Change priority: the priority must be a whole number from -100 to 100, got {typed!r}."]
    assert Job.objects.get(pk=job.pk).priority == 1


def test_change_priority_does_not_apply_to_running_jobs(admin_client):
    job = make_job("claimed", priority=1)
    assert post(admin_client, op="change_priority", state="claimed", ids=job.pk, priority="5") == [
        "Change priority: change priority does not apply to claimed jobs."]


def test_change_priority_of_all_ready_jobs_in_a_queue(admin_client):
    mail = [make_job("ready", queue="mail") for _ in range(3)]
    other = make_job("ready", queue="other")
    assert post(admin_client, op="change_priority", state="ready", all="1", queue="mail", priority="50") == [
        "Set the priority of 3 jobs to 50."]
    assert set(ReadyExecution.objects.filter(job__in=mail).values_list("priority", flat=True)) == {50}
    assert ReadyExecution.objects.get(job=other).priority == 0


def test_pages_offer_the_buttons(admin_client):
    job = make_job("scheduled", priority=3)
    listing = admin_client.get(JOBS.format("scheduled")).content.decode()
    assert 'value="run_now">Run selected now</button>' in listing
    assert 'value="change_priority">Change priority of selected</button>' in listing
    assert 'data-op="run_now">Run all 1 scheduled job now</button>' in listing
    page = admin_client.get(f"/admin/dj_queue/dashboard/job/{job.pk}/").content.decode()
    assert 'data-op="run_now">Run now</button>' in page
    assert 'name="priority" min="-100" max="100" step="1" value="3" required' in page
    running = admin_client.get(f"/admin/dj_queue/dashboard/job/{make_job('claimed').pk}/").content.decode()
    assert 'data-op="run_now"' not in running and 'data-op="change_priority"' not in running
