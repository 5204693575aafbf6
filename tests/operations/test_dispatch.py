"""Scheduled -> ready: due rows only, in batches, per backend alias."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dj_queue.models import Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.dispatch import dispatch_due


def scheduled(count: int = 1, *, delay: float = -60, backend_alias: str = "default",
              queue: str = "default", priority: int = 0) -> list[Job]:
    at = timezone.now() + timedelta(seconds=delay)
    jobs = Job.objects.bulk_create(
        Job(task_path="tests.tasks_app.tasks.add", queue_name=queue, priority=priority,
            backend_alias=backend_alias, scheduled_at=at)
        for _ in range(count)
    )
    ScheduledExecution.objects.bulk_create(
        ScheduledExecution(job=job, queue_name=queue, priority=priority, scheduled_at=at,
                           backend_alias=backend_alias)
        for job in jobs
    )
    return jobs


def dispatch(batch_size: int = 500, backend_alias: str = "default") -> int:
    return dispatch_due(backend_alias=backend_alias, using="default", batch_size=batch_size)


@pytest.mark.django_db
def test_only_due_jobs_become_ready():
    due = scheduled(2, queue="mail", priority=7)
    later = scheduled(1, delay=3600)
    assert dispatch() == 2
    ready = {r.job_id: (r.queue_name, r.priority, r.backend_alias) for r in ReadyExecution.objects.all()}
    assert ready == {job.pk: ("mail", 7, "default") for job in due}
    assert list(ScheduledExecution.objects.values_list("job_id", flat=True)) == [later[0].pk]


@pytest.mark.django_db
def test_due_jobs_go_in_batches():
    scheduled(5)
    assert [dispatch(batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    assert ReadyExecution.objects.count() == 5 and not ScheduledExecution.objects.exists()


@pytest.mark.django_db
def test_earliest_due_first_within_a_batch():
    late = scheduled(1, delay=-10)
    early = scheduled(1, delay=-100)
    assert dispatch(batch_size=1) == 1
    assert ReadyExecution.objects.get().job_id == early[0].pk
    assert ScheduledExecution.objects.get().job_id == late[0].pk


@pytest.mark.django_db
def test_other_backend_alias_is_untouched():
    scheduled(2, backend_alias="other")
    mine = scheduled(1)
    assert dispatch() == 1
    assert ReadyExecution.objects.get().job_id == mine[0].pk
    assert ScheduledExecution.objects.filter(backend_alias="other").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_bad_batch_size_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="batch_size"):
        dispatch(batch_size=bad)


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_promote_each_job_once():
    jobs = scheduled(300)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while (moved := dispatch(batch_size=20)) or ScheduledExecution.objects.exists():
                counts.append(moved)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and errors == []
    assert sum(counts) == 300
    assert sorted(ReadyExecution.objects.values_list("job_id", flat=True)) == sorted(j.pk for j in jobs)
