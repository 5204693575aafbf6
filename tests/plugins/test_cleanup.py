from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.config import validate
from dj_queue.models import FailedExecution, Job, RecurringExecution
from dj_queue_plugins import cleanup
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def _rows():
    old = timezone.now() - timedelta(days=3)
    finished = make_job("finished")
    Job.objects.filter(pk=finished.pk).update(finished_at=old)
    failed = make_job("failed")
    FailedExecution.objects.filter(job=failed).update(created_at=old)
    RecurringExecution.objects.create(task_key="k", run_at=old, created_at=old)
    # the latest reservation of a task is always kept
    RecurringExecution.objects.create(task_key="k", run_at=old + timedelta(hours=1), created_at=old)
    return finished, failed


def test_defaults_clear_old_finished_jobs_only():
    finished, failed = _rows()
    removed = cleanup.clean(validate({}), backend_alias="default")
    assert removed == {"finished": 1, "failed": 0, "recurring": 0}
    assert list(Job.objects.values_list("pk", flat=True)) == [failed.pk]
    assert RecurringExecution.objects.count() == 2


def test_every_retention_option_applies():
    _rows()
    options = validate({"clear_failed_jobs_after": 3600, "clear_recurring_executions_after": 3600})
    assert cleanup.clean(options, backend_alias="default") == {"finished": 1, "failed": 1, "recurring": 1}
    assert not Job.objects.exists() and RecurringExecution.objects.count() == 1


def test_without_preserve_finished_jobs_cleanup_leaves_finished_rows_to_the_worker():
    finished, _ = _rows()
    cleanup.clean(validate({"preserve_finished_jobs": False}), backend_alias="default")
    assert Job.objects.filter(pk=finished.pk).exists()


class FakeScheduler:
    backend_alias = "default"
    options = validate({})


def test_the_maintenance_hook_runs_at_most_once_a_minute():
    finished, _ = _rows()
    scheduler = FakeScheduler()
    cleanup.dj_queue_scheduler_maintenance(scheduler)
    assert not Job.objects.filter(pk=finished.pk).exists()
    again = make_job("finished")
    Job.objects.filter(pk=again.pk).update(finished_at=timezone.now() - timedelta(days=3))
    cleanup.dj_queue_scheduler_maintenance(scheduler)
    assert Job.objects.filter(pk=again.pk).exists()
