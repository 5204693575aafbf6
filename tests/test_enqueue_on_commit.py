"""``enqueue_on_commit``: the job exists only once the surrounding transaction commits."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

from dj_queue.api import enqueue_on_commit
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Job, ReadyExecution
from tests.tasks_app import tasks

pytestmark = pytest.mark.django_db(transaction=True)

SMALL_PAYLOAD = {
    "default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                "OPTIONS": {"max_payload_bytes": 64}},
}


def test_inside_a_transaction_nothing_is_enqueued_until_commit():
    with transaction.atomic():
        enqueue_on_commit(tasks.add, 1, b=2)
        assert not Job.objects.exists()
    job = Job.objects.get()
    assert (job.task_path, job.args, job.kwargs) == ("tests.tasks_app.tasks.add", [1], {"b": 2})
    assert ReadyExecution.objects.filter(job=job).exists()


def test_rollback_enqueues_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(tasks.add, 1, 2)
        raise RuntimeError("roll back")
    assert not Job.objects.exists()


def test_a_rolled_back_savepoint_drops_only_its_own_enqueue():
    with transaction.atomic():
        enqueue_on_commit(tasks.add, 1, 1)
        try:
            with transaction.atomic():
                enqueue_on_commit(tasks.add, 2, 2)
                raise RuntimeError("inner rollback")
        except RuntimeError:
            pass
    assert list(Job.objects.values_list("args", flat=True)) == [[1, 1]]


def test_outside_a_transaction_it_enqueues_at_once():
    assert enqueue_on_commit(tasks.important, 5) is None
    job = Job.objects.get()
    assert (job.queue_name, job.priority, job.args) == ("high", 10, [5])


@pytest.mark.parametrize("args, kwargs", [((object(),), {}), ((), {"when": {1, 2}})])
def test_arguments_that_are_not_json_raise_at_call_time(args, kwargs):
    with transaction.atomic():
        with pytest.raises(EnqueueError, match="tests.tasks_app.tasks.add"):
            enqueue_on_commit(tasks.add, *args, **kwargs)
    assert not Job.objects.exists()


def test_a_payload_over_the_limit_raises_at_call_time():
    with override_settings(TASKS=SMALL_PAYLOAD), transaction.atomic():
        with pytest.raises(EnqueueError, match="max_payload_bytes"):
            enqueue_on_commit(tasks.add, "x" * 200, 1)
    assert not Job.objects.exists()


def test_something_that_is_not_a_task_is_refused_clearly():
    def plain_function():
        return None

    with pytest.raises(EnqueueError, match="not a task"):
        enqueue_on_commit(plain_function)
