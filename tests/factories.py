"""Rows made directly with the ORM, for tests that must not depend on the enqueue path."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dj_queue.models import (
    ClaimedExecution,
    FailedExecution,
    Job,
    ReadyExecution,
    ScheduledExecution,
)

TASK = "tests.tasks_app.tasks.add"


def make_job(state: str = "ready", *, queue: str = "default", priority: int = 0,
             backend_alias: str = "default", task_path: str = TASK, **fields) -> Job:
    """One job in ``state`` (ready | scheduled | claimed | failed | finished)."""
    job = Job.objects.create(queue_name=queue, priority=priority, backend_alias=backend_alias,
                             task_path=task_path, args=fields.pop("args", [1, 2]), **fields)
    common = {"job": job, "backend_alias": backend_alias}
    if state == "ready":
        ReadyExecution.objects.create(queue_name=queue, priority=priority, **common)
    elif state == "scheduled":
        ScheduledExecution.objects.create(queue_name=queue, priority=priority,
                                          scheduled_at=timezone.now() + timedelta(hours=1), **common)
    elif state == "claimed":
        ClaimedExecution.objects.create(process_id=None, **common)
    elif state == "failed":
        FailedExecution.objects.create(exception_class="builtins.ValueError", message="boom",
                                       traceback="Traceback ...", **common)
        Job.objects.filter(pk=job.pk).update(finished_at=timezone.now())  # as fail() records it
    elif state == "finished":
        Job.objects.filter(pk=job.pk).update(finished_at=timezone.now(), return_value=3)
    else:
        raise ValueError(f"unknown state {state!r}")
    return job
