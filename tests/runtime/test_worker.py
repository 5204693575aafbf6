"""The worker actor, run in a thread of the test process."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError

from dj_queue.models import ClaimedExecution, Job, Process, ReadyExecution
from dj_queue.operations import claim as claim_module
from dj_queue.runtime import worker as worker_module
from dj_queue.runtime.worker import Worker
from tests.conftest import wait_until
from tests.runtime.helpers import ERRORS, Running, options
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(threads: int = 2, polling_interval: float = 0.05, **overrides) -> Worker:
    return Worker(backend_alias="default", options=options(**overrides), queues=["*"], threads=threads,
                  polling_interval=polling_interval)


def _all_finished() -> bool:
    return not Job.objects.filter(finished_at__isnull=True).exists()


def test_worker_runs_jobs_claiming_no_more_than_its_idle_threads(monkeypatch):
    limits = []
    real_claim = claim_module.claim

    def spy(**kwargs):
        limits.append(kwargs["limit"])
        return real_claim(**kwargs)

    monkeypatch.setattr(claim_module, "claim", spy)
    for i in range(8):
        tasks.sleep_then_record.enqueue(f"job-{i}", 0.05)
    worker = _worker(threads=3)
    running = Running(worker)
    try:
        wait_until(_all_finished, timeout=20, message="jobs finished")
        row = Process.objects.get(kind="worker")
        assert row.name == worker.name and row.metadata["threads"] == 3
    finally:
        running.stop()
    assert SideEffect.objects.filter(key__startswith="job-").exclude(key__endswith=":started").count() == 8
    assert limits and max(limits) <= 3 and min(limits) >= 1
    assert not Process.objects.exists()


def test_an_enqueue_in_this_process_wakes_the_worker_at_once():
    worker = _worker(polling_interval=30)
    running = Running(worker)
    try:
        wait_until(lambda: worker.waker is not None and Process.objects.filter(kind="worker").exists(),
                   timeout=10, message="worker waiting")
        time.sleep(0.2)  # the worker is now in its 30 s wait
        start = time.monotonic()
        result = tasks.add.enqueue(1, 2)
        wait_until(lambda: Job.objects.get(pk=int(result.id)).finished_at, timeout=5, message="job ran")
        assert time.monotonic() - start < 5
    finally:
        running.stop()


def test_stop_releases_jobs_still_running_at_the_deadline():
    result = tasks.sleep_then_record.enqueue("slow", 1.5)
    worker = _worker(shutdown_timeout=0.1)
    running = Running(worker)
    wait_until(lambda: SideEffect.objects.filter(key="slow:started").exists(), timeout=10, message="started")
    running.stop()
    job = Job.objects.get(pk=int(result.id))
    assert ReadyExecution.objects.filter(job=job).exists() and not ClaimedExecution.objects.exists()
    assert len(job.worker_ids) == 1
    # The abandoned attempt finishing late changes nothing.
    wait_until(lambda: SideEffect.objects.filter(key="slow").exists(), timeout=10, message="late finish")
    time.sleep(0.2)
    job.refresh_from_db()
    assert job.finished_at is None and ReadyExecution.objects.filter(job=job).exists()


def test_claim_errors_are_reported_and_the_worker_carries_on(monkeypatch):
    real_claim = claim_module.claim
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database went away")
        return real_claim(**kwargs)

    monkeypatch.setattr(claim_module, "claim", flaky)
    ERRORS.clear()
    result = tasks.add.enqueue(3, 4)
    running = Running(_worker())
    try:
        wait_until(lambda: Job.objects.get(pk=int(result.id)).finished_at, timeout=10, message="job ran")
    finally:
        running.stop()
    assert any(isinstance(e, OperationalError) for e in ERRORS)


def test_jobs_claimed_by_a_turn_whose_reply_was_lost_go_back_to_ready_and_run(monkeypatch):
    # The connection drops during the commit: the claim is written, the worker never sees its jobs.
    real_turn = worker_module.finish_and_claim
    lost = []

    def reply_lost(**kwargs):
        finished, jobs = real_turn(**kwargs)
        if jobs and not lost:
            lost.extend(job.pk for job in jobs)
            raise OperationalError("server closed the connection unexpectedly")
        return finished, jobs

    monkeypatch.setattr(worker_module, "finish_and_claim", reply_lost)
    ERRORS.clear()
    for i in range(5):
        tasks.record.enqueue(f"lost-{i}")
    running = Running(_worker(threads=2))
    try:
        wait_until(_all_finished, timeout=15, message="every job finished, the lost turn's too")
    finally:
        running.stop()
    assert len(lost) == 2 and any(isinstance(e, OperationalError) for e in ERRORS)
    assert sorted(SideEffect.objects.values_list("key", flat=True)) == [f"lost-{i}" for i in range(5)]
    for job in Job.objects.filter(pk__in=lost):
        assert len(job.worker_ids) == 2  # the lost attempt, then the one that ran
    assert not ClaimedExecution.objects.exists()


def test_after_a_failed_turn_the_jobs_still_running_and_their_outcomes_keep_their_claims(monkeypatch):
    real_turn = worker_module.finish_and_claim
    failed = []

    def fails_once_while_slow_runs(**kwargs):
        slow_started = SideEffect.objects.filter(key="slow:started").exists()
        if slow_started and kwargs["outcomes"] and not failed:  # "quick" done, "slow" still running
            failed.append([job.pk for job, _ in kwargs["outcomes"]])
            raise OperationalError("database went away")
        return real_turn(**kwargs)

    monkeypatch.setattr(worker_module, "finish_and_claim", fails_once_while_slow_runs)
    ERRORS.clear()
    slow = tasks.sleep_then_record.enqueue("slow", 2.0)
    running = Running(_worker(threads=2))
    try:
        # Only now: enqueued with "slow", "quick" could finish (and be recorded) before "slow" starts.
        wait_until(lambda: SideEffect.objects.filter(key="slow:started").exists(), timeout=15,
                   message="the slow job started")
        quick = tasks.record.enqueue("quick")
        wait_until(_all_finished, timeout=15, message="both jobs finished")
    finally:
        running.stop()
    assert failed == [[int(quick.id)]]
    for result in (slow, quick):  # each claimed once: neither went back to ready
        assert len(Job.objects.get(pk=int(result.id)).worker_ids) == 1
    assert SideEffect.objects.filter(key__in=["slow", "quick"]).count() == 2


def test_a_waker_that_cannot_start_is_the_error_reported_and_drain_copes(monkeypatch):
    from django.utils.connection import ConnectionDoesNotExist

    def no_waker():
        raise ConnectionDoesNotExist("The connection 'direct' doesn't exist.")

    worker = _worker()
    monkeypatch.setattr(worker, "_make_waker", no_waker)
    with pytest.raises(ConnectionDoesNotExist):
        worker.loop()
    worker.drain()  # the supervisor's cleanup after the crash: no AttributeError hiding the cause
    assert worker.pool is not None and worker.completions is not None and not len(worker.completions)
