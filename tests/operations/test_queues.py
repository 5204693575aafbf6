from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.api import QueueInfo
from dj_queue.models import Job, ReadyExecution
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
