"""run_now and change_priority: operator changes to jobs that are still waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue import wakeup
from dj_queue.dashboard.queries import JOB_STATES, state_of
from dj_queue.models import BlockedExecution, Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.jobs import change_priority, run_now
from tests.factories import make_job
from tests.tasks_app.tasks import sync_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def notified(monkeypatch):
    calls = []
    monkeypatch.setattr(wakeup, "notify_enqueued", lambda alias, names: calls.append((alias, set(names or ()))))
    return calls


def test_run_now_moves_a_scheduled_job_to_ready_and_wakes_its_queue(notified, django_capture_on_commit_callbacks):
    job = make_job("scheduled", queue="mail", priority=4)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_now(job.pk) == "ready"
    ready = ReadyExecution.objects.get(job=job)
    assert (ready.queue_name, ready.priority) == ("mail", 4)
    assert not ScheduledExecution.objects.exists()
    assert notified == [("default", {"mail"})]


@pytest.mark.parametrize("state", ["ready", "claimed", "failed", "finished"])
def test_run_now_leaves_other_states_alone(state, notified):
    job = make_job(state)
    assert run_now(job.pk) is None
    assert state_of(Job.objects.select_related(*JOB_STATES).get(pk=job.pk)) == state
    assert notified == []


def test_run_now_of_an_unknown_job_or_another_backend_is_none():
    job = make_job("scheduled", backend_alias="other")
    assert run_now(987654) is None
    assert run_now(job.pk) is None and ScheduledExecution.objects.filter(job=job).exists()
    assert run_now(job.pk, backend_alias="other", using="default") == "ready"


def test_run_now_goes_through_the_concurrency_limit(notified, django_capture_on_commit_callbacks):
    running = sync_account.enqueue(3)
    later = sync_account.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(3)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_now(int(later.id)) == "blocked"
    assert BlockedExecution.objects.filter(job_id=int(later.id)).exists()
    assert ReadyExecution.objects.filter(job_id=int(running.id)).exists()
    assert notified == []


@pytest.mark.parametrize("state, model", [("ready", ReadyExecution), ("scheduled", ScheduledExecution)])
def test_change_priority_of_a_waiting_job(state, model, notified, django_capture_on_commit_callbacks):
    job = make_job(state, queue="mail", priority=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert change_priority(job.pk, -100) is True
    assert Job.objects.get(pk=job.pk).priority == -100 and model.objects.get(job=job).priority == -100
    assert notified == ([("default", {"mail"})] if state == "ready" else [])


def test_change_priority_of_a_blocked_job():
    sync_account.enqueue(8)
    blocked = sync_account.enqueue(8)
    assert change_priority(int(blocked.id), 100) is True
    assert BlockedExecution.objects.get(job_id=int(blocked.id)).priority == 100


@pytest.mark.parametrize("state", ["claimed", "failed", "finished"])
def test_change_priority_of_a_job_that_is_not_waiting_is_false(state):
    job = make_job(state, priority=2)
    assert change_priority(job.pk, 9) is False
    assert Job.objects.get(pk=job.pk).priority == 2
    assert change_priority(987654, 9) is False


@pytest.mark.parametrize("priority", [101, -101, "5", 1.5, True, None])
def test_change_priority_refuses_an_invalid_priority(priority):
    job = make_job("ready", priority=2)
    with pytest.raises(ValueError) as caught:
        change_priority(job.pk, priority)
    assert str(caught.value) == f"dj_queue: priority must be an integer between -100 and 100, got {priority!r}"
    assert Job.objects.get(pk=job.pk).priority == 2
