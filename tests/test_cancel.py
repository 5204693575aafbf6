"""``dj_queue.api.cancel``: waiting jobs end FAILED with their record kept; running jobs are asked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue import api
from dj_queue.compat import TaskResultDoesNotExist, TaskResultStatus
from dj_queue.exceptions import NotCancellableError
from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    ReadyExecution,
    ScheduledExecution,
    Semaphore,
)
from tests.factories import make_job
from tests.tasks_app.tasks import add, sync_account

pytestmark = pytest.mark.django_db


def _cancelled(result_id, task=add) -> None:
    result = task.get_result(str(result_id))
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["dj_queue.exceptions.JobCancelledError"]


@pytest.mark.parametrize("when", ["ready", "scheduled"])
def test_a_waiting_job_ends_failed_and_keeps_its_record(when):
    task = add if when == "ready" else add.using(run_after=timezone.now() + timedelta(hours=1))
    result = task.enqueue(1, 2)
    assert api.cancel(result.id) == "cancelled"
    _cancelled(result.id)
    assert not ReadyExecution.objects.exists() and not ScheduledExecution.objects.exists()
    failure = FailedExecution.objects.get(job_id=int(result.id))
    assert failure.message == f"job {result.id} (tests.tasks_app.tasks.add) was cancelled"
    assert Job.objects.get(pk=int(result.id)).finished_at is not None


def test_cancelling_a_ready_job_gives_its_slot_to_the_blocked_one():
    first, second = sync_account.enqueue(7), sync_account.enqueue(7)
    assert BlockedExecution.objects.filter(job_id=int(second.id)).exists()
    assert api.cancel(first.id) == "cancelled"
    assert ReadyExecution.objects.filter(job_id=int(second.id)).exists()
    assert Semaphore.objects.get(key="account:7").value == 0  # the slot passed to the second job


def test_cancelling_a_blocked_job_keeps_the_slot_with_the_running_one():
    first, second = sync_account.enqueue(8), sync_account.enqueue(8)
    assert api.cancel(second.id) == "cancelled"
    assert not BlockedExecution.objects.exists()
    assert ReadyExecution.objects.filter(job_id=int(first.id)).exists()
    assert Semaphore.objects.get(key="account:8").value == 0
    _cancelled(second.id, sync_account)


def test_a_running_job_gets_a_request():
    job = make_job("claimed")
    assert api.cancel(job.pk) == "requested"
    assert Job.objects.get(pk=job.pk).cancel_requested_at is not None
    assert ClaimedExecution.objects.filter(job=job).exists()
    assert api.cancel_requested(job.pk) is True


def test_cancelling_a_finished_job_is_a_clear_error():
    done, failed = make_job("finished"), make_job("failed")
    with pytest.raises(NotCancellableError) as info:
        api.cancel(done.pk)
    assert str(info.value) == (f"job {done.pk} already finished (SUCCESSFUL); only waiting or running jobs "
                               "can be cancelled")
    with pytest.raises(NotCancellableError) as info:
        api.cancel(failed.pk)
    assert str(info.value) == (f"job {failed.pk} already finished (FAILED); only waiting or running jobs "
                               "can be cancelled")


@pytest.mark.parametrize("job_id", [10**9, "nope"])
def test_cancelling_an_unknown_job_raises_does_not_exist(job_id):
    with pytest.raises(TaskResultDoesNotExist):
        api.cancel(job_id)


def test_cancel_requested_is_false_for_a_job_nobody_cancelled():
    assert api.cancel_requested(make_job("claimed").pk) is False
