"""Drill-down pages per state and the job detail page."""

from __future__ import annotations

import pytest

from dj_queue.models import FailedExecution, Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db
JOBS = "/admin/dj_queue/dashboard/jobs/{}/"
JOB = "/admin/dj_queue/dashboard/job/{}/"


@pytest.mark.parametrize("state", ["ready", "scheduled", "claimed", "failed", "finished"])
def test_each_state_lists_only_its_jobs(admin_client, state):
    wanted = make_job(state, queue="mail")
    other = make_job("ready" if state != "ready" else "finished", queue="mail")

    response = admin_client.get(JOBS.format(state))

    assert response.status_code == 200
    listed = [job.pk for job, _ in response.context["table"].rows]
    assert listed == [wanted.pk] and other.pk not in listed


def test_queue_filter_and_sorting(admin_client):
    jobs = [make_job("ready", queue="mail", priority=p) for p in (1, 5, 3)]
    make_job("ready", queue="other")

    table = admin_client.get(JOBS.format("ready"), {"queue": "mail", "jobs_o": "-job_priority"}).context["table"]

    assert [job.pk for job, _ in table.rows] == [jobs[1].pk, jobs[2].pk, jobs[0].pk]


def test_unknown_state_is_404(admin_client):
    assert admin_client.get(JOBS.format("bogus")).status_code == 404


def test_failed_page_offers_retry_and_discard(admin_client):
    make_job("failed")
    html = admin_client.get(JOBS.format("failed")).content.decode()
    assert 'value="retry">Retry selected' in html and 'value="discard">Discard selected' in html
    assert 'data-op="retry">Retry all' in html


def test_claimed_page_offers_no_discard(admin_client):
    make_job("claimed")
    html = admin_client.get(JOBS.format("claimed")).content.decode()
    assert "Discard" not in html and "cannot be discarded" in html


def test_failed_job_detail_shows_error_traceback_and_timings(admin_client):
    job = make_job("failed", args=[1, {"deep": [2, 3]}], kwargs={"user": 9}, worker_ids=["w-1", "w-2"])
    FailedExecution.objects.filter(job=job).update(message="disk full", traceback="Traceback: line 42")

    response = admin_client.get(JOB.format(job.pk))
    html = response.content.decode()

    assert response.status_code == 200
    assert response.context["job"].state == "failed" and response.context["attempts"] == 2
    assert "builtins.ValueError" in html and "disk full" in html and "Traceback: line 42" in html
    assert "&quot;deep&quot;: [" in html and "&quot;user&quot;: 9" in html
    assert "Enqueued" in html and "Retry" in html and "Enqueue a fresh copy" in html


def test_finished_job_detail_shows_result(admin_client):
    job = make_job("finished")
    html = admin_client.get(JOB.format(job.pk)).content.decode()
    assert 'id="djq-result">3</pre>' in html and "Enqueue a fresh copy" in html


def test_missing_job_is_404(admin_client):
    assert admin_client.get(JOB.format(999999)).status_code == 404


def test_large_arguments_are_truncated_in_lists_but_complete_in_detail(admin_client):
    job = make_job("ready", args=["x" * 5000])
    listing = admin_client.get(JOBS.format("ready")).content.decode()
    detail = admin_client.get(JOB.format(job.pk)).content.decode()
    assert "x" * 200 not in listing and "…" in listing
    assert "x" * 5000 in detail
    assert Job.objects.count() == 1


@pytest.mark.parametrize("path", ["gone.module.task", "tests.never_imported.task", "os.system"])
def test_job_pages_show_a_job_whose_task_path_does_not_resolve(admin_client, path):
    job = make_job("failed", task_path=path, args=[{"b": 1, "a": 2}])
    for url in (JOB.format(job.pk), f"/admin/dj_queue/job/{job.pk}/change/", JOBS.format("failed")):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert path in response.content.decode(), url
