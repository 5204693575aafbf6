"""The dispatcher actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import Job, Process, ReadyExecution, ScheduledExecution
from dj_queue.runtime.dispatcher import Dispatcher
from tests.conftest import wait_until
from tests.runtime.helpers import Running, options

pytestmark = pytest.mark.django_db(transaction=True)


def _scheduled(delta: timedelta) -> Job:
    job = Job.objects.create(task_path="tests.tasks_app.tasks.noop", scheduled_at=timezone.now() + delta)
    ScheduledExecution.objects.create(job=job, queue_name="default", scheduled_at=job.scheduled_at)
    return job


def test_dispatcher_promotes_due_jobs_in_batches_and_leaves_future_ones():
    due = [_scheduled(timedelta(seconds=-5)) for _ in range(5)]
    future = _scheduled(timedelta(hours=1))
    dispatcher = Dispatcher(backend_alias="default", options=options(), batch_size=2, polling_interval=0.05)
    running = Running(dispatcher)
    try:
        wait_until(lambda: ReadyExecution.objects.count() == 5, timeout=10, message="due jobs promoted")
        assert Process.objects.get(kind="dispatcher").metadata["batch_size"] == 2
    finally:
        running.stop()
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == {job.pk for job in due}
    assert ScheduledExecution.objects.filter(job=future).exists()
    assert not Process.objects.exists()


@pytest.mark.django_db
def test_concurrency_maintenance_expires_semaphores_and_releases_blocked_jobs():
    from datetime import timedelta

    from django.utils import timezone

    from dj_queue.config import validate
    from dj_queue.models import BlockedExecution, ReadyExecution, Semaphore
    from dj_queue.runtime.dispatcher import Dispatcher
    from tests.tasks_app.tasks import sync_account

    sync_account.enqueue(1)
    blocked = sync_account.enqueue(1)
    past = timezone.now() - timedelta(seconds=1)
    Semaphore.objects.update(expires_at=past)
    BlockedExecution.objects.update(expires_at=past)
    dispatcher = Dispatcher(backend_alias="default", options=validate({}), concurrency_maintenance_interval=600)
    dispatcher.maintain()
    assert ReadyExecution.objects.filter(job_id=int(blocked.id)).exists()
    # the next pass waits for the interval: a new expired block stays blocked
    third = sync_account.enqueue(1)
    BlockedExecution.objects.update(expires_at=past)
    Semaphore.objects.update(expires_at=past)
    dispatcher.maintain()
    assert BlockedExecution.objects.filter(job_id=int(third.id)).exists()
