"""Workflows: chains and groups of jobs, advanced on the database as their steps finish.

A workflow is a tree of steps: ``task`` leaves (one job each, once started), ``chain`` nodes (their
children run one after another) and ``group`` nodes (their ``member`` children run in parallel,
then optional ``on_success`` / ``on_finish`` callbacks). The workflow row is the lock every
advance takes, so two steps finishing at once advance the tree one after the other.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from dj_queue.fields import OrderedJSONField


class Workflow(models.Model):
    """One workflow: its state and the JSON workspace its steps share."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    backend_alias = models.CharField(max_length=100, default="default")
    name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    workspace = OrderedJSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dj_queue_workflow"
        indexes = [models.Index(fields=["backend_alias", "created_at"], name="dj_queue_workflow_created")]

    def __str__(self) -> str:
        return f"Workflow {self.pk} {self.name or ''}".rstrip()


class WorkflowStep(models.Model):
    """One node of a workflow's tree; a ``task`` step gets its job when it starts."""

    class Kind(models.TextChoices):
        TASK = "task"
        CHAIN = "chain"
        GROUP = "group"

    class Status(models.TextChoices):
        WAITING = "waiting"  # not started yet
        RUNNING = "running"  # its job (or one of its children) is enqueued or running
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"  # never ran: an earlier step failed, or the workflow was cancelled

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    # "member" in chains and groups; "on_success" / "on_finish" for a group's callbacks.
    role = models.CharField(max_length=20, default="member")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    # task steps: what to enqueue (the previous step's value is prepended to args when started)
    task_path = models.CharField(max_length=255, blank=True, default="")
    queue_name = models.CharField(max_length=100, blank=True, default="")
    priority = models.SmallIntegerField(default=0)
    args = OrderedJSONField(default=list)
    kwargs = OrderedJSONField(default=dict)
    job_id = models.BigIntegerField(null=True, blank=True)
    return_value = OrderedJSONField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dj_queue_workflow_step"
        indexes = [models.Index(fields=["job_id"], name="dj_queue_workflow_step_job")]

    def __str__(self) -> str:
        return f"Step {self.pk} ({self.kind} {self.task_path})".replace(" )", ")")
