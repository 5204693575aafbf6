"""The job lifecycle on the dashboard: attempts, crashes, cancel, retrying / rescued / cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, ReadyExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db
URL = "/admin/dj_queue/dashboard/"
JOB = "/admin/dj_queue/dashboard/job/{}/"
ACTION = "/admin/dj_queue/dashboard/action/"
CANCELLED = "dj_queue.exceptions.JobCancelledError"
FRAMEWORK_TB = """Traceback (most recent call last):
  File "/venv/lib/python3.13/site-packages/dj_queue/operations/execute.py", line 50, in run
    return call()
  File "/venv/lib/python3.13/site-packages/pluggy/_callers.py", line 103, in _multicall
    res = hook_impl.function(*args)
  File "/srv/shop/tasks.py", line 12, in send_receipt
    raise ValueError("<script>x</script>")
ValueError: <script>x</script>
"""


def error(worker: str, message: str, failed_at: datetime, cls: str = "builtins.ValueError", tb: str = "") -> dict:
    return {"exception_class": cls, "message": message, "traceback": tb, "worker_id": worker,
            "failed_at": failed_at.isoformat()}


def post(client, confirm=True, **data):
    data = {"backend": "default", "next": URL, **data, **({"confirm": "yes"} if confirm else {})}
    return client.post(ACTION, data)


def test_summary_cards_count_retrying_rescued_and_cancelled(admin_client):
    retrying = make_job("scheduled")
    Job.objects.filter(pk=retrying.pk).update(last_attempted_at=timezone.now(), worker_ids=["w1"])
    make_job("scheduled")  # never attempted: not retrying
    running = make_job("claimed")
    Job.objects.filter(pk=running.pk).update(last_attempted_at=timezone.now(), worker_ids=["w1"])
    rescued = make_job("ready")
    Job.objects.filter(pk=rescued.pk).update(crashes=2, last_attempted_at=timezone.now())
    cancelled = make_job("failed")
    FailedExecution.objects.filter(job=cancelled).update(exception_class=CANCELLED)

    response = admin_client.get(URL)

    assert response.context["lifecycle"] == {"retrying": 2, "rescued": 1, "cancelled": 1}
    html = response.content.decode()
    assert 'href="/admin/dj_queue/job/?lifecycle=retrying" data-count="retrying"><strong>2</strong>' in html
    assert 'data-count="rescued"><strong>1</strong>' in html and 'data-count="cancelled"><strong>1</strong>' in html


def test_job_page_lists_each_attempt_with_its_error(admin_client):
    first = datetime(2026, 11, 30, 18, 11, 7, tzinfo=dt_timezone.utc)
    job = make_job("claimed", worker_ids=["w-a", "w-b", "w-c"], crashes=1, errors=[
        error("w-a", "<b>first</b>", first, tb=FRAMEWORK_TB),
        error("", "process died", first + timedelta(seconds=30), cls="dj_queue.exceptions.ProcessPrunedError"),
    ])

    response = admin_client.get(JOB.format(job.pk))
    html = response.content.decode()

    rows = response.context["history"]
    assert [(r.number, r.worker_id, r.outcome) for r in rows] == [
        (1, "w-a", "failed"), (2, "w-b", "failed"), (3, "w-c", "running")]
    assert rows[1].error["exception_class"] == "dj_queue.exceptions.ProcessPrunedError"
    assert '<dd id="djq-attempts">3</dd>' in html and '<dd id="djq-crashes">1 <span' in html
    assert "&lt;b&gt;first&lt;/b&gt;" in html and "<b>first</b>" not in html
    assert '<time datetime="2026-11-30T18:11:07+00:00">2026-11-30 18:11:07 UTC</time>' in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_folded_traceback_shows_user_frames_first_and_keeps_the_full_text(admin_client):
    job = make_job("failed")
    FailedExecution.objects.filter(job=job).update(traceback=FRAMEWORK_TB)
    html = admin_client.get(JOB.format(job.pk)).content.decode()
    short = html[html.index('<pre class="djq-code djq-traceback">'):].split("</pre>")[0]
    assert "[2 framework frames folded]" in short and "/srv/shop/tasks.py" in short
    assert "pluggy" not in short
    full = html[html.index('<details class="djq-full-traceback">'):].split("</details>")[0]
    assert "pluggy/_callers.py" in full and "/srv/shop/tasks.py" in full


def test_cancel_requested_marker_and_no_second_cancel_button(admin_client):
    job = make_job("claimed")
    assert 'data-op="cancel"' in admin_client.get(JOB.format(job.pk)).content.decode()
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    html = admin_client.get(JOB.format(job.pk)).content.decode()
    assert 'id="djq-cancel-requested">cancel requested</span>' in html
    assert 'data-op="cancel"' not in html and "<dt>Cancel requested</dt>" in html


def test_job_page_shows_the_task_failure_policy(admin_client, settings):
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {
        "retry": {"max_attempts": 4, "backoff": 30}, "timeout": 120, "delivery": "at_most_once", "crash_limit": 2}}}
    job = make_job("ready")
    policy = dict(admin_client.get(JOB.format(job.pk)).context["policy"])
    assert policy == {"Attempts allowed": "4 (3 retries)", "Backoff": "30 s between attempts",
                      "Retried errors": "Exception", "Timeout": "120 s",
                      "Delivery": "at most once, crash limit 2", "Exactly once": "no"}


def test_default_policy_reads_as_no_retries(admin_client):
    job = make_job("ready", task_path="gone.module.task")  # unresolvable: the backend's defaults
    policy = dict(admin_client.get(JOB.format(job.pk)).context["policy"])
    assert policy["Attempts allowed"] == "1 (no retries)" and policy["Timeout"] == "none"
    assert policy["Delivery"] == "at least once, crash limit 3"


def test_concurrency_discards_show_as_discarded_not_as_crashes(admin_client):
    job = make_job("failed")
    FailedExecution.objects.filter(job=job).update(
        exception_class="dj_queue.exceptions.ConcurrencyLimitDiscarded", traceback="", message="limit reached")
    Job.objects.filter(pk=job.pk).update(errors=[error("", "limit reached", timezone.now(),
                                                       cls="dj_queue.exceptions.ConcurrencyLimitDiscarded")])
    html = admin_client.get(JOB.format(job.pk)).content.decode()
    assert '<span class="djq-badge djq-quiet" id="djq-state">discarded</span>' in html
    assert "<h2>Discarded by a concurrency limit</h2>" in html and "djq-traceback" not in html
    listing = admin_client.get("/admin/dj_queue/dashboard/jobs/failed/").content.decode()
    assert 'data-outcome="discarded">discarded</span>' in listing


def test_cancel_from_the_dashboard_names_the_job_then_cancels_it(admin_client):
    job = make_job("ready", queue="mail")
    confirm = post(admin_client, confirm=False, op="cancel", state="ready", ids=[job.pk]).content.decode()
    assert f'<p id="djq-question">Cancel ready job {job.pk} (tests.tasks_app.tasks.add)?</p>' in confirm
    assert not FailedExecution.objects.exists()

    response = post(admin_client, op="cancel", state="ready", ids=[job.pk])

    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Cancelled 1 job."]
    failed = FailedExecution.objects.get()
    assert (failed.job_id, failed.exception_class) == (job.pk, CANCELLED)
    assert not ReadyExecution.objects.exists()


def test_cancel_of_running_jobs_is_a_request_and_several_are_listed(admin_client):
    first, second = make_job("claimed"), make_job("claimed", queue="reports")
    confirm = post(admin_client, confirm=False, op="cancel", state="claimed", ids=[first.pk, second.pk])
    html = confirm.content.decode()
    assert '<p id="djq-question">Cancel 2 running jobs?</p>' in html
    assert f"<li>Job {second.pk}: <code>tests.tasks_app.tasks.add</code> in queue reports</li>" in html

    response = post(admin_client, op="cancel", state="claimed", ids=[first.pk, second.pk])

    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Asked 2 running jobs to stop."]
    assert Job.objects.filter(cancel_requested_at__isnull=False).count() == 2


def test_cancel_all_in_a_queue(admin_client):
    mail = [make_job("scheduled", queue="mail") for _ in range(3)]
    other = make_job("scheduled", queue="other")
    confirm = post(admin_client, confirm=False, op="cancel", state="scheduled", queue="mail", all="1")
    assert "Cancel all 3 scheduled jobs in queue &#x27;mail&#x27;?" in confirm.content.decode()
    post(admin_client, op="cancel", state="scheduled", queue="mail", all="1")
    assert set(FailedExecution.objects.values_list("job_id", flat=True)) == {j.pk for j in mail}
    assert not FailedExecution.objects.filter(job=other).exists()


def test_cancel_is_offered_for_waiting_and_running_jobs_discard_for_failed(admin_client):
    for state in ("ready", "scheduled", "claimed", "failed"):
        make_job(state)
    pages = {s: admin_client.get(f"/admin/dj_queue/dashboard/jobs/{s}/").content.decode()
             for s in ("ready", "scheduled", "claimed", "failed")}
    for state in ("ready", "scheduled", "claimed"):
        assert 'value="cancel">Cancel selected' in pages[state] and 'value="discard"' not in pages[state]
    assert 'value="discard">Discard selected' in pages["failed"] and 'value="cancel"' not in pages["failed"]


def test_cancel_needs_the_change_job_permission(staff_client):
    job = make_job("ready")
    client = staff_client("dj_queue.view_job")
    assert 'value="cancel"' not in client.get("/admin/dj_queue/dashboard/jobs/ready/").content.decode()
    assert post(client, op="cancel", state="ready", ids=[job.pk]).status_code == 403
    assert ReadyExecution.objects.filter(job=job).exists()


def test_times_carry_seconds_the_time_zone_and_a_relative_age(admin_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    enqueued = timezone.now().replace(microsecond=0) - timedelta(seconds=12)
    job = make_job("ready", enqueued_at=enqueued)
    html = admin_client.get(JOB.format(job.pk)).content.decode()
    local = timezone.localtime(enqueued, timezone.get_current_timezone())
    zone = local.strftime("%Z")
    assert zone in ("CET", "CEST")
    assert f'{local:%Y-%m-%d %H:%M:%S} {zone}</time> <span class="djq-ago">(1' in html
    assert "s ago)</span>" in html
