from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, RecurringExecution
from dj_queue.operations import retention
from tests.factories import make_job

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)
KW = {"backend_alias": "default", "using": "default"}


def age(job: Job, *, finished: timedelta | None = None, failed: timedelta | None = None) -> Job:
    if finished is not None:
        Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - finished)
    if failed is not None:
        FailedExecution.objects.filter(job=job).update(created_at=timezone.now() - failed)
    return job


def test_finished_jobs_older_than_cutoff_are_deleted_and_nothing_else():
    old = [age(make_job("finished"), finished=2 * DAY) for _ in range(3)]
    fresh = age(make_job("finished"), finished=timedelta(hours=1))
    other_alias = age(make_job("finished", backend_alias="other"), finished=2 * DAY)
    others = [make_job(s) for s in ("ready", "scheduled", "claimed")]
    old_failed = age(make_job("failed"), failed=2 * DAY)
    assert retention.delete_finished_jobs(older_than=DAY, batch_size=2, **KW) == 3
    remaining = set(Job.objects.values_list("pk", flat=True))
    assert not remaining & {j.pk for j in old}
    assert {fresh.pk, other_alias.pk, old_failed.pk, *(j.pk for j in others)} == remaining


def test_task_path_filter_limits_job_cleanup():
    keep = age(make_job("finished", task_path="tests.tasks_app.tasks.noop"), finished=2 * DAY)
    drop = age(make_job("finished"), finished=2 * DAY)
    assert retention.delete_finished_jobs(older_than=DAY, task_path=drop.task_path, **KW) == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [keep.pk]


def test_failed_jobs_older_than_cutoff_are_deleted():
    old = age(make_job("failed"), failed=3 * DAY)
    fresh = age(make_job("failed"), failed=timedelta(minutes=5))
    finished = age(make_job("finished"), finished=3 * DAY)
    assert retention.delete_failed_jobs(older_than=DAY, **KW) == 1
    assert set(Job.objects.values_list("pk", flat=True)) == {fresh.pk, finished.pk}
    assert not Job.objects.filter(pk=old.pk).exists()


def test_recurring_reservations_older_than_cutoff_are_deleted_by_key():
    now = timezone.now()
    for key, created in (("a", now - 3 * DAY), ("a", now - 2 * DAY), ("b", now - 3 * DAY), ("b", now - 2 * DAY)):
        RecurringExecution.objects.create(task_key=key, run_at=created, created_at=created)
    assert retention.delete_recurring_executions(older_than=DAY, task_key="a", **KW) == 1
    assert sorted(RecurringExecution.objects.values_list("task_key", flat=True)) == ["a", "b", "b"]
    assert retention.delete_recurring_executions(older_than=DAY, **KW) == 1
    assert sorted(RecurringExecution.objects.values_list("task_key", "run_at")) == [
        ("a", now - 2 * DAY), ("b", now - 2 * DAY)]


def test_the_latest_reservation_of_a_task_is_kept_so_its_run_never_fires_twice():
    from dj_queue.operations import recurring

    now = timezone.now()
    recurring.sync_static_tasks({"monthly": {"task_path": "tests.tasks_app.tasks.add", "schedule": "0 0 1 * *",
                                             "args": [1, 2]}}, **KW)
    RecurringTask = recurring.RecurringTask
    RecurringTask.objects.update(created_at=now - 90 * DAY)
    [job_id] = recurring.fire_due(**KW)
    RecurringExecution.objects.update(created_at=now - 60 * DAY)
    assert retention.delete_recurring_executions(older_than=DAY, **KW) == 0
    assert recurring.fire_due(**KW) == []


def test_failed_jobs_are_not_finished_jobs_for_cleanup():
    failed = make_job("failed")
    Job.objects.filter(pk=failed.pk).update(finished_at=timezone.now() - 2 * DAY)
    assert retention.delete_finished_jobs(older_than=DAY, **KW) == 0
    assert Job.objects.filter(pk=failed.pk).exists()


def test_a_failed_job_retried_after_cleanup_listed_it_is_not_deleted(monkeypatch):
    from dj_queue.models import ReadyExecution
    from dj_queue.operations.jobs import retry_failed_jobs

    job = age(make_job("failed"), failed=3 * DAY)
    listed = retention.failed_executions

    class RetriedOnceListed:
        """The failures cleanup lists; the job is retried right after (an operator, at that moment)."""

        def __init__(self, rows):
            self.rows = rows

        def order_by(self, *fields):
            return RetriedOnceListed(self.rows.order_by(*fields))

        def values_list(self, *fields, **kwargs):
            return RetriedOnceListed(self.rows.values_list(*fields, **kwargs))

        def __getitem__(self, key):
            ids = list(self.rows[key])
            retry_failed_jobs(ids, using="default")
            return ids

    monkeypatch.setattr(retention, "failed_executions", lambda **kw: RetriedOnceListed(listed(**kw)))
    assert retention.delete_failed_jobs(older_than=DAY, **KW) == 0
    assert ReadyExecution.objects.filter(job_id=job.pk).exists()  # the retry stands
