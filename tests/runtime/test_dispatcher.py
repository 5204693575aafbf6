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
