"""Schema guarantees the database enforces."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from dj_queue.models import Job, ReadyExecution


@pytest.mark.django_db
def test_priority_outside_range_is_rejected_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(task_path="tests.tasks_app.tasks.add", priority=101)


@pytest.mark.django_db
def test_a_job_has_at_most_one_ready_execution():
    job = Job.objects.create(task_path="tests.tasks_app.tasks.add")
    ReadyExecution.objects.create(job=job, queue_name="default")
    with pytest.raises(IntegrityError), transaction.atomic():
        ReadyExecution.objects.create(job=job, queue_name="default")
