from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, RecurringExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def prune(*args: str) -> str:
    out = StringIO()
    call_command("dj_queue_prune", *args, stdout=out)
    return out.getvalue()


def test_prune_deletes_what_each_flag_names_and_reports_it():
    old = timezone.now() - timedelta(days=10)
    finished = [make_job("finished") for _ in range(3)]
    Job.objects.filter(pk__in=[j.pk for j in finished]).update(finished_at=old)
    fresh = make_job("finished")
    failed = make_job("failed")
    FailedExecution.objects.filter(job=failed).update(created_at=old)
    for key in ("nightly", "hourly"):  # two old runs each: the latest of a task is always kept
        RecurringExecution.objects.create(task_key=key, run_at=old, created_at=old)
        RecurringExecution.objects.create(task_key=key, run_at=old + timedelta(hours=1), created_at=old)

    out = prune("--older-than", "7d", "--batch-size", "2")
    assert "finished jobs: 3" in out
    assert set(Job.objects.values_list("pk", flat=True)) == {fresh.pk, failed.pk}

    out = prune("--failed-older-than", "1d", "--recurring-older-than", "1d", "--task-key", "nightly")
    assert "failed jobs: 1" in out and "recurring executions: 1" in out
    assert list(Job.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert sorted(RecurringExecution.objects.values_list("task_key", flat=True)) == ["hourly", "hourly", "nightly"]


def test_prune_filters_by_task_path():
    old = timezone.now() - timedelta(days=2)
    keep = make_job("finished", task_path="tests.tasks_app.tasks.noop")
    drop = make_job("finished")
    Job.objects.update(finished_at=old)
    assert "finished jobs: 1" in prune("--older-than", "3600", "--task-path", drop.task_path)
    assert list(Job.objects.values_list("pk", flat=True)) == [keep.pk]


@pytest.mark.parametrize("args, message", [
    ((), "nothing to prune"),
    (("--older-than", "soon"), "is not a duration"),
    (("--older-than", "1d", "--backend", "nope"), "no TASKS backend named 'nope'"),
])
def test_prune_rejects_bad_input_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        prune(*args)
