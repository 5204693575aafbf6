from __future__ import annotations

import pytest

from dj_queue.exceptions import UndiscardableError
from dj_queue.models import ClaimedExecution, FailedExecution, Job, ReadyExecution
from dj_queue.operations.jobs import discard_failed_job, discard_jobs, retry_failed_job
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def test_retry_moves_a_failed_job_back_to_ready_with_the_same_id():
    job = make_job("failed", queue="emails", priority=5, worker_ids=["w1"])
    assert retry_failed_job(job.pk) is True
    assert not FailedExecution.objects.filter(job=job).exists()
    ready = ReadyExecution.objects.get(job=job)
    assert (ready.queue_name, ready.priority) == ("emails", 5)
    refreshed = Job.objects.get(pk=job.pk)
    assert refreshed.worker_ids == ["w1"]
    assert refreshed.finished_at is None  # so its result reads READY again, not finished


def test_retry_of_a_job_that_is_not_failed_changes_nothing():
    job = make_job("ready")
    assert retry_failed_job(job.pk) is False
    assert retry_failed_job(10**9) is False
    assert ReadyExecution.objects.filter(job=job).count() == 1


def test_discard_failed_job_deletes_it_and_only_failed_ones():
    failed, ready = make_job("failed"), make_job("ready")
    assert discard_failed_job(failed.pk) is True
    assert discard_failed_job(ready.pk) is False
    assert list(Job.objects.values_list("pk", flat=True)) == [ready.pk]


def test_model_helpers_retry_and_discard_in_batches():
    jobs = [make_job("failed") for _ in range(5)]
    FailedExecution.objects.get(job=jobs[0]).retry()
    assert ReadyExecution.objects.filter(job=jobs[0]).exists()
    FailedExecution.objects.get(job=jobs[1]).discard()
    assert not Job.objects.filter(pk=jobs[1].pk).exists()
    assert FailedExecution.retry_all(FailedExecution.objects.filter(job__in=jobs[2:4])) == 2
    assert FailedExecution.discard_all_in_batches() == 1
    assert not FailedExecution.objects.exists()
    assert ReadyExecution.objects.count() == 3


def test_running_jobs_cannot_be_discarded():
    running, waiting = make_job("claimed"), make_job("scheduled")
    with pytest.raises(UndiscardableError):
        ClaimedExecution.discard_all_in_batches()
    with pytest.raises(UndiscardableError):
        discard_jobs([running.pk, waiting.pk], using="default")
    assert Job.objects.count() == 2
    assert discard_jobs([waiting.pk], using="default") == 1


def test_discarding_a_ready_job_gives_its_slot_to_the_next_blocked_one():
    from dj_queue.models import BlockedExecution, Semaphore
    from tests.tasks_app.tasks import sync_account

    first, second = (int(sync_account.enqueue(11).id) for _ in range(2))
    assert BlockedExecution.objects.filter(job_id=second).exists()
    assert discard_jobs([first], using="default") == 1
    assert ReadyExecution.objects.filter(job_id=second).exists()
    assert Semaphore.objects.get(key="account:11").value == 0
