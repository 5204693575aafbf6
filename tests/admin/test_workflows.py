"""The dashboard's workflow pages, the job page's workflow link and its progress endpoint."""

from __future__ import annotations

import pytest

from dj_queue.api import set_progress
from dj_queue.models import Job, Workflow
from dj_queue.operations.jobs import cancel
from dj_queue.workflows import chain, group, step
from tests.factories import make_job
from tests.tasks_app.workflow_tasks import add, total

pytestmark = pytest.mark.django_db
BASE = "/admin/dj_queue/dashboard/"


def test_the_workflow_list_links_each_workflow_and_filters_by_status(admin_client):
    first = chain(step(add, 1, 2), step(add, 3)).enqueue(name="nightly import")
    second = chain(step(add, 5, 5)).enqueue()
    Workflow.objects.filter(pk=second.pk).update(status="failed")
    html = admin_client.get(BASE + "workflows/").content.decode()
    assert f'data-workflow="{first.pk}"' in html and f'data-workflow="{second.pk}"' in html
    assert "nightly import" in html and f'{BASE}workflow/{first.pk}/' in html
    failed = admin_client.get(BASE + "workflows/", {"status": "failed"}).content.decode()
    assert f'data-workflow="{second.pk}"' in failed and f'data-workflow="{first.pk}"' not in failed
    assert f"{BASE}workflows/" in admin_client.get(BASE).content.decode()  # linked from the overview


def test_the_workflow_page_shows_every_step_with_its_state_and_job(admin_client):
    workflow = chain(step(add, 1, 2), group(step(add, 1), step(add, 2), on_success=step(total, "k"))).enqueue(
        workspace={"files": 3})
    first_job = Job.objects.get()
    cancel(first_job.pk)  # the first step fails: the group and its callback never run
    response = admin_client.get(f"{BASE}workflow/{workflow.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-status="failed"') == 2  # the chain and its first step
    assert html.count('data-status="cancelled"') == 4  # the group, its two members, its callback
    assert f'{BASE}job/{first_job.pk}/' in html and "on_success:" in html
    assert "&quot;files&quot;: 3" in html or '"files": 3' in html
    assert admin_client.get(f"{BASE}workflow/999999/").status_code == 404


def test_a_step_job_page_links_its_workflow_and_a_plain_one_does_not(admin_client):
    workflow = chain(step(add, 1, 2)).enqueue()
    job = Job.objects.get()
    assert f'{BASE}workflow/{workflow.pk}/' in admin_client.get(f"{BASE}job/{job.pk}/").content.decode()
    plain = make_job("ready")
    assert "djq-workflow-link" not in admin_client.get(f"{BASE}job/{plain.pk}/").content.decode()


def test_the_job_page_shows_progress_and_the_endpoint_serves_it(admin_client):
    job = make_job("claimed")
    html = admin_client.get(f"{BASE}job/{job.pk}/").content.decode()
    assert 'data-live="1"' in html and "not reported" in html
    set_progress(job.pk, 42.5, {"stage": "upload"})
    data = admin_client.get(f"{BASE}job/{job.pk}/progress/").json()
    assert data == {"progress": 42.5, "metadata": {"stage": "upload"}, "finished": False}
    assert "42.5 %" in admin_client.get(f"{BASE}job/{job.pk}/").content.decode()
    assert admin_client.get(f"{BASE}job/999999/progress/").status_code == 404


def test_the_progress_endpoint_needs_the_view_permission(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    job = make_job("claimed")
    assert client.get(f"{BASE}job/{job.pk}/progress/").status_code == 403


def test_the_workspace_is_masked_by_the_backends_redact_keys(admin_client, settings):
    settings.TASKS = {**settings.TASKS, "default": {**settings.TASKS["default"],
                                                    "OPTIONS": {"redact_keys": ["api_token"]}}}
    workflow = chain(step(add, 1, 2)).enqueue(workspace={"api_token": "s3cret", "files": 3})
    html = admin_client.get(f"{BASE}workflow/{workflow.pk}/").content.decode()
    assert "s3cret" not in html and "***" in html
    assert Workflow.objects.get(pk=workflow.pk).workspace["api_token"] == "s3cret"  # only what is shown
