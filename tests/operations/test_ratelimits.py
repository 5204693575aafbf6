"""Rate limits in the database: the sliding log per key and throttled jobs going back to scheduled."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.compat import TaskResultStatus, task_backends, task_started
from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    RateLimitLog,
    ReadyExecution,
    ScheduledExecution,
    Semaphore,
)
from dj_queue.operations import processes, ratelimits
from dj_queue.operations.claim import claim
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.execute import execute

pytestmark = pytest.mark.django_db

TASKS = "tests.tasks_app.tasks."
TAKE = {"backend_alias": "default", "using": "default"}


@pytest.fixture
def worker():
    return processes.register(kind="worker", backend_alias="default", using="default")


@pytest.fixture
def run(worker):
    """Enqueue ``task_path(*args)``, claim it as ``worker`` and execute it; return (ran, fresh Job)."""

    def run(task_path: str, *args, **kwargs) -> tuple[bool, Job]:
        job = Job.objects.create(task_path=task_path, args=list(args), kwargs=kwargs)
        ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
        [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                          process_id=worker.pk, worker_id=worker.name)
        ran = execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
        job.refresh_from_db()
        return ran, job

    return run


def test_take_allows_limit_starts_then_says_how_long_to_wait():
    assert [ratelimits.take("k", limit=3, period=30, **TAKE) for _ in range(3)] == [None, None, None]
    wait = ratelimits.take("k", limit=3, period=30, **TAKE)
    assert 25 < wait <= 30 + ratelimits.GUARD_MAX  # the period and its guard
    assert RateLimitLog.objects.get(key="k").starts.__len__() == 3
    assert ratelimits.recent_starts("k", period=30, **TAKE) == 3


def test_take_slides_old_starts_out_of_the_window():
    RateLimitLog.objects.create(key="k", starts=[time.time() - 100, time.time() - 0.5])
    assert ratelimits.take("k", limit=2, period=10, **TAKE) is None
    assert len(RateLimitLog.objects.get(key="k").starts) == 2  # the old start was pruned
    wait = ratelimits.take("k", limit=2, period=10, **TAKE)
    assert 8 < wait <= 9.6 + ratelimits.GUARD_MAX  # the start half a second ago leaves first


def test_keys_and_backends_are_separate():
    assert ratelimits.take("a", limit=1, period=30, **TAKE) is None
    assert ratelimits.take("b", limit=1, period=30, **TAKE) is None
    assert ratelimits.take("a", limit=1, period=30, backend_alias="other", using="default") is None
    assert ratelimits.take("a", limit=1, period=30, **TAKE) is not None


def test_jobs_within_the_limit_run(run):
    ran, job = run(TASKS + "per_account", 1)
    assert ran and job.finished_at is not None and job.return_value == 1
    assert len(job.worker_ids) == 1


def test_a_job_over_the_limit_waits_scheduled_without_an_attempt(run):
    starts = []

    def started(sender, task_result, **kwargs):
        starts.append(task_result.id)

    task_started.connect(started)
    try:
        assert run(TASKS + "per_account", 1)[0]
        assert run(TASKS + "per_account", 1)[0]
        ran, job = run(TASKS + "per_account", 1)
        other_ran, _ = run(TASKS + "per_account", 2)  # another key has its own limit
    finally:
        task_started.disconnect(started)
    assert not ran and other_ran
    assert str(job.pk) not in starts and len(starts) == 3
    assert job.worker_ids == [] and job.started_at is None and job.errors == []
    assert not ClaimedExecution.objects.filter(job=job).exists()
    assert not FailedExecution.objects.filter(job=job).exists()
    scheduled = ScheduledExecution.objects.get(job=job)
    assert scheduled.throttled
    assert timezone.now() + timedelta(seconds=50) < scheduled.scheduled_at <= timezone.now() + timedelta(seconds=60 + ratelimits.GUARD_MAX)
    assert ratelimits.throttled_count(backend_alias="default", using="default") == 1
    status = task_backends["default"].get_result(str(job.pk)).status
    assert status == TaskResultStatus.READY


def test_a_throttled_job_runs_once_its_time_comes(run, worker):
    RateLimitLog.objects.create(key="account:5", starts=[time.time(), time.time()])
    ran, job = run(TASKS + "per_account", 5)
    assert not ran
    ScheduledExecution.objects.filter(job=job).update(scheduled_at=timezone.now())
    RateLimitLog.objects.filter(key="account:5").update(starts=[])  # as if the period had passed
    assert dispatch_due(backend_alias="default", using="default") == 1
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    assert execute(claimed, backend=task_backends["default"], process_id=worker.pk, using="default")
    job.refresh_from_db()
    assert job.return_value == 5 and len(job.worker_ids) == 1


def test_a_key_that_cannot_be_built_fails_the_job_with_a_clear_error(run, monkeypatch):
    from tests.tasks_app import tasks

    monkeypatch.setattr(tasks.per_account.func, "rate_limit_key", "account:{nope}")
    monkeypatch.setattr(ratelimits, "_settings", {})
    ran, job = run(TASKS + "per_account", 1)
    assert not ran
    failed = FailedExecution.objects.get(job=job)
    assert failed.exception_class.endswith("EnqueueError") and "rate-limit key" in failed.message


def test_throttle_leaves_a_job_alone_when_the_claim_is_gone(worker):
    job = Job.objects.create(task_path=TASKS + "per_account", args=[1])
    assert not ratelimits.throttle(job, timezone.now(), process_id=worker.pk, using="default")
    assert not ScheduledExecution.objects.filter(job=job).exists()


@pytest.fixture
def throttled_holder(worker):
    """A keyed job (limit 1) a rate limit sent back to wait, holding its slot; a second job blocked."""
    from tests.tasks_app.tasks import sync_account

    first = int(sync_account.enqueue(21).id)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=worker.pk, worker_id=worker.name)
    assert ratelimits.throttle(claimed, timezone.now() + timedelta(hours=1), process_id=worker.pk, using="default")
    second = int(sync_account.enqueue(21).id)
    assert BlockedExecution.objects.filter(job_id=second).exists()  # the waiting first job holds the slot
    return first, second


@pytest.mark.parametrize("action", ["cancel", "discard"])
def test_cancelling_or_discarding_a_throttled_keyed_job_gives_its_slot_back(throttled_holder, action):
    from dj_queue import api
    from dj_queue.operations.jobs import discard_jobs

    first, second = throttled_holder
    if action == "cancel":
        assert api.cancel(first) == "cancelled"
    else:
        assert discard_jobs([first], using="default") == 1
    assert ReadyExecution.objects.filter(job_id=second).exists()
    assert Semaphore.objects.get(key="account:21").value == 0  # the slot passed on, none lost


def test_run_now_of_a_throttled_keyed_job_uses_the_slot_it_holds(throttled_holder):
    from dj_queue.operations.jobs import run_now

    first, second = throttled_holder
    assert run_now(first) == "ready"  # not blocked behind its own slot
    assert BlockedExecution.objects.filter(job_id=second).exists()
    assert Semaphore.objects.get(key="account:21").value == 0  # still one slot taken, not two
