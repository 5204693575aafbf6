"""Recurring tasks and the reservations that make each run fire exactly once."""

from __future__ import annotations

from django.db import models
from django.utils import timezone as django_timezone

from dj_queue.models.jobs import Job


class RecurringTask(models.Model):
    """A task fired on a cron schedule: static (from settings) or dynamic (created at runtime)."""

    backend_alias = models.CharField(max_length=100, default="default")
    key = models.CharField(max_length=255)
    schedule = models.CharField(max_length=255)
    task_path = models.CharField(max_length=255)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue_name = models.CharField(max_length=100, null=True, blank=True)
    priority = models.SmallIntegerField(null=True, blank=True)
    description = models.TextField(blank=True, default="")
    # The IANA zone the schedule's wall-clock times are read in; rows from before zones were
    # stored keep UTC, which is how they were evaluated.
    timezone = models.CharField(max_length=64, default="UTC")
    static = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=django_timezone.now)
    updated_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        db_table = "dj_queue_recurring_task"
        constraints = [
            models.UniqueConstraint(fields=["backend_alias", "key"], name="dj_queue_recurring_task_unique"),
        ]

    def __str__(self) -> str:
        return f"recurring {self.key} ({self.schedule} {self.timezone})"


class RecurringExecution(models.Model):
    """The reservation of one run of a recurring task; the unique key makes it fire once."""

    backend_alias = models.CharField(max_length=100, default="default")
    task_key = models.CharField(max_length=255)
    run_at = models.DateTimeField()
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        db_table = "dj_queue_recurring_execution"
        constraints = [
            models.UniqueConstraint(
                fields=["backend_alias", "task_key", "run_at"], name="dj_queue_recurring_run_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["backend_alias", "created_at"], name="dj_queue_recurring_created"),
        ]

    def __str__(self) -> str:
        return f"run of {self.task_key} at {self.run_at:%Y-%m-%d %H:%M:%S}"
