from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.api import QueueInfo
from dj_queue.api import queue_depths as api_queue_depths
from dj_queue.models import BlockedExecution, Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.queues import finished_counts, queue_depths
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def test_size_and_latency_count_only_ready_jobs_of_the_queue():
    make_job("ready", queue="emails")
    oldest = make_job("ready", queue="emails")
    ReadyExecution.objects.filter(job=oldest).update(created_at=timezone.now() - timedelta(minutes=5))
    make_job("scheduled", queue="emails")
    make_job("ready", queue="other")
    make_job("ready", queue="emails", backend_alias="elsewhere")
    info = QueueInfo("emails")
    assert info.size == 2
    assert timedelta(minutes=4, seconds=59) < info.latency < timedelta(minutes=6)
    assert QueueInfo("empty").latency == timedelta(0)


def test_pause_and_resume_are_idempotent_and_visible():
    info = QueueInfo("emails")
    assert info.paused is False
    assert info.pause() is True
    assert info.pause() is False
    assert info.paused is True
    assert info.resume() is True
    assert info.resume() is False
    assert info.paused is False


def test_clear_removes_only_ready_jobs_of_that_queue():
    ready = [make_job("ready", queue="emails") for _ in range(3)]
    kept = [make_job(state, queue="emails") for state in ("scheduled", "claimed", "failed", "finished")]
    other = make_job("ready", queue="other")
    assert QueueInfo("emails").clear() == 3
    assert not Job.objects.filter(pk__in=[j.pk for j in ready]).exists()
    assert Job.objects.filter(pk__in=[j.pk for j in kept + [other]]).count() == 5


def test_clear_works_in_batches():
    from dj_queue.operations.queues import clear

    for _ in range(7):
        make_job("ready", queue="bulk")
    assert clear("bulk", backend_alias="default", using="default", batch_size=3) == 7
    assert QueueInfo("bulk").size == 0


def _blocked(queue: str) -> Job:
    job = make_job("scheduled", queue=queue)  # any job; then move it to blocked
    ScheduledExecution.objects.filter(job=job).delete()
    BlockedExecution.objects.create(job=job, backend_alias="default", queue_name=queue, concurrency_key="k:1",
                                    expires_at=timezone.now() + timedelta(minutes=5))
    return job


def test_queue_depths_counts_every_state_per_queue_in_one_query_per_table(django_assert_num_queries):
    for _ in range(3):
        make_job("ready", queue="default")
    oldest = make_job("ready", queue="default")
    ReadyExecution.objects.filter(job=oldest).update(created_at=timezone.now() - timedelta(seconds=90))
    make_job("scheduled", queue="default")
    make_job("claimed", queue="default")
    make_job("claimed", queue="default")
    make_job("failed", queue="emails")
    _blocked("emails")
    make_job("finished", queue="done-only")          # no live job: not listed
    make_job("ready", queue="default", backend_alias="elsewhere")  # another backend
    QueueInfo("paused-empty").pause()

    with django_assert_num_queries(6):
        depths = queue_depths(backend_alias="default", using="default")

    assert [q["name"] for q in depths] == ["default", "emails", "paused-empty"]
    default, emails, paused = depths
    assert 89 < default.pop("latency_seconds") < 100
    assert default == {"name": "default", "ready": 4, "scheduled": 1, "blocked": 0, "claimed": 2, "failed": 0,
                       "paused": False}
    assert emails == {"name": "emails", "ready": 0, "scheduled": 0, "blocked": 1, "claimed": 0, "failed": 1,
                      "latency_seconds": 0.0, "paused": False}
    assert paused == {"name": "paused-empty", "ready": 0, "scheduled": 0, "blocked": 0, "claimed": 0, "failed": 0,
                      "latency_seconds": 0.0, "paused": True}


def test_api_queue_depths_reads_the_backend_database():
    make_job("ready", queue="emails")
    make_job("failed", queue="reports")
    assert [(q["name"], q["ready"], q["failed"]) for q in api_queue_depths()] == [("emails", 1, 0), ("reports", 0, 1)]


def test_finished_counts_splits_successes_and_failures_within_the_window():
    now = timezone.now()
    for state in ("finished", "finished", "failed"):
        make_job(state, queue="default")
    make_job("failed", queue="emails")
    old = make_job("finished", queue="default")
    Job.objects.filter(pk=old.pk).update(finished_at=now - timedelta(hours=2))
    counts = finished_counts(backend_alias="default", using="default", since=now - timedelta(minutes=1),
                             until=timezone.now() + timedelta(seconds=1))
    assert counts == {"default": {"finished": 2, "failed": 1}, "emails": {"finished": 0, "failed": 1}}
    assert finished_counts(backend_alias="default", using="default", since=now - timedelta(hours=3),
                           until=now - timedelta(hours=1)) == {"default": {"finished": 1, "failed": 0}}


def test_clearing_ready_jobs_gives_their_slots_to_the_blocked_jobs_it_spares():
    from dj_queue.models import Semaphore
    from tests.tasks_app.tasks import sync_account

    first, second, third = (int(sync_account.enqueue(9).id) for _ in range(3))  # limit 1: one ready
    assert QueueInfo(ReadyExecution.objects.get().queue_name).clear() == 1
    assert not Job.objects.filter(pk=first).exists()
    assert ReadyExecution.objects.filter(job_id=second).exists()  # unblocked, not cleared with the rest
    assert BlockedExecution.objects.filter(job_id=third).exists()
    assert Semaphore.objects.get(key="account:9").value == 0  # the slot passed on, not leaked


@pytest.mark.parametrize("name, problem", [
    (None, "a queue name is a non-empty string, got None"),
    ("", "a queue name is a non-empty string, got ''"),
    ("q" * 101, "a queue name has at most 100 characters, got 101"),
])
def test_queue_info_refuses_what_cannot_name_a_queue(name, problem):
    with pytest.raises(ValueError) as info:
        QueueInfo(name)
    assert str(info.value) == f"dj_queue: QueueInfo: {problem}"


def test_the_dashboard_refuses_to_pause_a_queue_name_too_long_for_the_column(admin_client):
    from django.contrib.messages import get_messages

    from dj_queue.models import Pause

    response = admin_client.post("/admin/dj_queue/dashboard/action/", {
        "backend": "default", "op": "pause", "queue": "q" * 300, "confirm": "yes",
        "next": "/admin/dj_queue/dashboard/"})
    assert response.status_code == 302 and not Pause.objects.exists()
    assert "at most 100 characters" in str(list(get_messages(response.wsgi_request))[-1])
