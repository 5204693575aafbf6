"""The original dj_queue README's concurrency spelling (``func.on_conflict``), through enqueue."""

from __future__ import annotations

import pytest

from dj_queue.compat import TaskResultStatus
from dj_queue.models import BlockedExecution, FailedExecution, ReadyExecution
from tests.tasks_app.hooked_tasks import seed_block, seed_discard

pytestmark = pytest.mark.django_db


def test_on_conflict_discard_drops_the_second_job():
    first = seed_discard.enqueue(1, "refresh")
    second = seed_discard.enqueue(1, "refresh")
    assert first.status == TaskResultStatus.READY
    assert second.status == TaskResultStatus.FAILED
    assert second.errors[0].exception_class_path == "dj_queue.exceptions.ConcurrencyLimitDiscarded"
    assert FailedExecution.objects.filter(job_id=second.id).exists()  # never runs, result readable
    assert ReadyExecution.objects.count() == 1 and BlockedExecution.objects.count() == 0


def test_on_conflict_block_blocks_the_second_job():
    seed_block.enqueue(1, "refresh")
    second = seed_block.enqueue(1, "refresh")
    assert second.status == TaskResultStatus.READY
    assert BlockedExecution.objects.filter(job_id=second.id).exists()


def test_a_bad_on_conflict_value_is_an_enqueue_error(monkeypatch):
    from dj_queue.exceptions import EnqueueError

    monkeypatch.setattr(seed_discard.func, "on_conflict", "skip")
    with pytest.raises(EnqueueError, match="on_conflict must be one of"):
        seed_discard.enqueue(1, "refresh")
