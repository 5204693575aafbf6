"""Unique jobs in the database: duplicates get the existing job, racing enqueues write one row."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import Job, ReadyExecution, ScheduledExecution, UniqueReservation
from dj_queue.operations import jobs as job_operations
from dj_queue.operations.claim import claim
from dj_queue.operations.completion import finish
from dj_queue.operations.unique import prune_reservations
from tests.tasks_app.hooked_tasks import unique_on_arguments, unique_report, unique_short

PATH = "tests.tasks_app.hooked_tasks."


def jobs_of(name: str) -> int:
    return Job.objects.filter(task_path=PATH + name).count()


@pytest.mark.django_db
def test_a_duplicate_returns_the_existing_job_and_writes_nothing():
    first = unique_report.enqueue(1)
    again = unique_report.enqueue(1, note="other")  # the key ignores note
    other = unique_report.enqueue(2)
    assert again.id == first.id and again.status == TaskResultStatus.READY
    assert other.id != first.id
    assert jobs_of("unique_report") == 2 and UniqueReservation.objects.count() == 2


@pytest.mark.django_db
def test_a_scheduled_job_holds_its_key_too():
    later = timezone.now() + timedelta(hours=1)
    first = unique_report.using(run_after=later).enqueue(3)
    assert ScheduledExecution.objects.filter(job_id=first.id).exists()
    now = unique_report.enqueue(3)
    assert now.id == first.id and jobs_of("unique_report") == 1


@pytest.mark.django_db
def test_a_key_is_free_again_once_its_job_left_the_counted_states():
    first = unique_report.enqueue(4)
    job_operations.cancel(int(first.id))  # FAILED: not a counted state
    second = unique_report.enqueue(4)
    assert second.id != first.id
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1, process_id=None, worker_id="w")
    assert unique_report.enqueue(4).id == second.id  # claimed still counts
    finish(claimed, 4, process_id=None, using="default")
    third = unique_report.enqueue(4)
    assert third.id not in (first.id, second.id) and jobs_of("unique_report") == 3
    assert UniqueReservation.objects.get().job_id == int(third.id)


@pytest.mark.django_db
def test_a_deleted_holder_frees_its_key():
    first = unique_report.enqueue(5)
    Job.objects.filter(pk=first.id).delete()
    assert unique_report.enqueue(5).id != first.id


@pytest.mark.django_db
def test_states_and_period_decide_what_counts():
    first = unique_short.enqueue(1)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1, process_id=None, worker_id="w")
    assert unique_short.enqueue(1).id != first.id  # "claimed" is not among its states
    ReadyExecution.objects.all().delete()
    finish(claimed, 1, process_id=None, using="default")
    held = UniqueReservation.objects.get()
    assert held.expires_at is not None
    UniqueReservation.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert unique_short.enqueue(1).id not in (first.id,)  # the period is over


@pytest.mark.django_db
def test_a_finished_job_counts_while_successful_is_a_counted_state():
    first = unique_short.enqueue(2)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1, process_id=None, worker_id="w")
    finish(claimed, 2, process_id=None, using="default")
    again = unique_short.enqueue(2)
    assert again.id == first.id and again.status == TaskResultStatus.SUCCESSFUL


@pytest.mark.django_db
def test_enqueue_all_dedupes_inside_the_batch_and_against_existing_jobs():
    existing = unique_report.enqueue(10)
    backend = task_backends["default"]
    results = backend.enqueue_all([
        (unique_report, [10], {}), (unique_report, [11], {}), (unique_on_arguments, [1], {}),
        (unique_report, [11], {"note": "dup"}), (unique_on_arguments, [1], {"b": 0}),
        (unique_on_arguments, [1], {"b": 5}),
    ])
    ids = [r.id for r in results]
    assert ids[0] == existing.id
    assert ids[1] == ids[3] and ids[2] == ids[4]
    assert len({ids[0], ids[1], ids[2], ids[5]}) == 4
    assert jobs_of("unique_report") == 2 and jobs_of("unique_on_arguments") == 2
    assert all(r.status == TaskResultStatus.READY for r in results)


@pytest.mark.django_db
def test_pruning_deletes_only_reservations_that_hold_nothing():
    live = unique_report.enqueue(20)
    expired = unique_short.enqueue(21)
    orphan = unique_report.enqueue(22)
    UniqueReservation.objects.filter(job_id=expired.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    Job.objects.filter(pk=orphan.id).delete()
    assert prune_reservations(backend_alias="default", using="default") == 2
    assert list(UniqueReservation.objects.values_list("job_id", flat=True)) == [int(live.id)]
    assert unique_report.enqueue(20).id == live.id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bulk", [False, True])
def test_two_threads_enqueueing_the_same_unique_job_create_one_row(bulk):
    barrier = threading.Barrier(2, timeout=60)
    ids: list[str] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            barrier.wait()
            if bulk:
                ids.extend(r.id for r in task_backends["default"].enqueue_all([(unique_report, [42], {})] * 3))
            else:
                ids.append(unique_report.enqueue(42).id)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enqueue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "enqueue threads did not finish"
    assert errors == []
    assert jobs_of("unique_report") == 1
    assert set(ids) == {str(Job.objects.get().pk)} and len(ids) == (6 if bulk else 2)
