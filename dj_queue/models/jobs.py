"""Jobs and their execution states.

A job is in exactly one live state at a time: one row in ready, scheduled, blocked, claimed or
failed executions, or none once finished. Each execution table holds at most one row per job
(the ``job`` column is unique); operations move a job between tables inside one transaction.
"""

from __future__ import annotations

from types import ModuleType

from django.apps import apps
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dj_queue.exceptions import UndiscardableError
from dj_queue.fields import OrderedJSONField

PRIORITY_MIN = -100
PRIORITY_MAX = 100


class Job(models.Model):
    """One enqueued call of a task, with its arguments and, once run, its outcome."""

    backend_alias = models.CharField(max_length=100, default="default")
    queue_name = models.CharField(max_length=100, default="default")
    task_path = models.CharField(max_length=255)
    priority = models.SmallIntegerField(default=0)
    args = OrderedJSONField(default=list)
    kwargs = OrderedJSONField(default=dict)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    concurrency_key = models.CharField(max_length=255, null=True, blank=True)
    return_value = OrderedJSONField(null=True, blank=True)
    worker_ids = models.JSONField(default=list)
    enqueued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # One entry per failed attempt ({"exception_class", "message", "traceback", "worker_id",
    # "failed_at"}), in order: retried, rescued, timed out and the final failure alike.
    errors = models.JSONField(default=list, blank=True)
    # Times a process died while holding this job; past the crash limit the job ends FAILED.
    crashes = models.PositiveSmallIntegerField(default=0)
    # Set by cancel() on a running job; the worker running it sees it and ends the attempt.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Plugins' headers for this job, written at enqueue (``dj_queue_enqueue_headers``): e.g. the
    # W3C trace context the OpenTelemetry plugin continues in the worker. None when nobody wrote any.
    headers = models.JSONField(null=True, blank=True)
    # The workflow step this job runs (``dj_queue.workflows``); read with the claimed row, so jobs
    # outside workflows cost nothing more on completion.
    workflow_step_id = models.BigIntegerField(null=True, blank=True)
    # What the running task reported (``dj_queue.api.set_progress``): 0..100 and small JSON.
    progress = models.FloatField(null=True, blank=True)
    progress_metadata = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "dj_queue_job"
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=PRIORITY_MIN) & Q(priority__lte=PRIORITY_MAX),
                name="dj_queue_job_priority_range",
            ),
        ]
        indexes = [
            # cleanup: finished jobs older than a cutoff, per backend
            models.Index(fields=["backend_alias", "finished_at"], name="dj_queue_job_finished"),
            models.Index(fields=["backend_alias", "queue_name"], name="dj_queue_job_queue"),
            models.Index(fields=["task_path"], name="dj_queue_job_task_path"),
            # the dashboard's rescued count: a range of the few jobs with crashes > 0, not a scan of
            # the history (a partial index would say it better, but MariaDB has none). backend_alias
            # first: SQLite prefers an equality on another index's first column to a range here.
            models.Index(fields=["backend_alias", "crashes"], name="dj_queue_job_crashes"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.task_path} on {self.queue_name!r}"


class Execution(models.Model):
    """Common columns of the per-state tables."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="+")
    backend_alias = models.CharField(max_length=100, default="default")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class ReadyExecution(Execution):
    """A job waiting for a worker. Claims read this table in (priority desc, job id) order."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="ready_execution")
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField(default=0)

    class Meta:
        db_table = "dj_queue_ready_execution"
        indexes = [
            models.Index(
                fields=["backend_alias", "queue_name", "-priority", "job"], name="dj_queue_ready_claim"
            ),
            models.Index(fields=["backend_alias", "-priority", "job"], name="dj_queue_ready_all"),
        ]


class ScheduledExecution(Execution):
    """A job waiting for its ``scheduled_at``; dispatchers promote it to ready."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="scheduled_execution")
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField(default=0)
    scheduled_at = models.DateTimeField()
    # Set when a rate limit sent the job back here (dj_queue.operations.ratelimits): the dashboard
    # shows it as throttled. A database default, so raw-SQL inserts need not know the column.
    throttled = models.BooleanField(default=False, db_default=False)
    # Copied from the job: due jobs with a key must take a semaphore slot, not go straight to ready.
    concurrency_key = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "dj_queue_scheduled_execution"
        indexes = [
            models.Index(
                fields=["backend_alias", "scheduled_at", "-priority", "job"],
                name="dj_queue_scheduled_due",
            ),
        ]


class BlockedExecution(Execution):
    """A job waiting for a concurrency slot of its key."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="blocked_execution")
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField(default=0)
    concurrency_key = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "dj_queue_blocked_execution"
        indexes = [
            models.Index(
                fields=["backend_alias", "concurrency_key", "-priority", "job"],
                name="dj_queue_blocked_release",
            ),
            models.Index(
                fields=["backend_alias", "expires_at", "concurrency_key"],
                name="dj_queue_blocked_expiry",
            ),
        ]


class ClaimedExecution(Execution):
    """A job a worker process took. ``process_id`` is not a foreign key on purpose: a claim whose
    process row is gone must survive so recovery can fail it with ``ProcessMissingError``."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="claimed_execution")
    process_id = models.BigIntegerField(null=True, blank=True)
    # Written before the task body runs, only under ``delivery="at_most_once"``: it tells a job
    # that may have run from one that never started when its process dies.
    started_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def discard_all_in_batches(cls, queryset: models.QuerySet | None = None) -> int:
        """Running jobs cannot be discarded: always raises ``UndiscardableError``."""
        raise UndiscardableError("claimed (running) jobs cannot be discarded; wait for them or stop their worker")

    class Meta:
        db_table = "dj_queue_claimed_execution"
        indexes = [
            models.Index(fields=["process_id", "job"], name="dj_queue_claimed_process"),
        ]


class FailedExecution(Execution):
    """A job whose last attempt failed, kept with its error until retried or discarded."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="failed_execution")
    exception_class = models.CharField(max_length=255)
    message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")

    # The failed -> ready transition and discarding live in ``dj_queue.operations.jobs`` with the
    # others; the app config hands them to these shortcuts (models never import operations).

    def retry(self) -> bool:
        """Move this job back to ready; it keeps its id."""
        return _operations().retry_failed_jobs([self.job_id], using=self._state.db or "default") == 1

    def discard(self) -> bool:
        """Delete this failed job."""
        return _operations().discard_failed_job(self.job_id, using=self._state.db or "default")

    @classmethod
    def retry_all(cls, queryset: models.QuerySet | None = None) -> int:
        """Retry every failed job of ``queryset`` (default: all), in batches."""
        queryset = cls.objects.all() if queryset is None else queryset
        using, retried, operations = queryset.db, 0, _operations()
        while ids := list(queryset.order_by("job_id").values_list("job_id", flat=True)[:operations.BATCH]):
            retried += operations.retry_failed_jobs(ids, using=using)
        return retried

    @classmethod
    def discard_all_in_batches(cls, queryset: models.QuerySet | None = None) -> int:
        """Delete every failed job of ``queryset`` (default: all), one batch per transaction."""
        queryset = cls.objects.all() if queryset is None else queryset
        return _operations().discard_in_batches(queryset, using=queryset.db)

    class Meta:
        db_table = "dj_queue_failed_execution"
        indexes = [
            models.Index(fields=["backend_alias", "created_at"], name="dj_queue_failed_created"),
        ]


def _operations() -> ModuleType:
    """``dj_queue.operations.jobs``, as the app config wired it in ``ready()``."""
    return apps.get_app_config("dj_queue").job_operations
