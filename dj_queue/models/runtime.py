"""Runtime metadata: registered processes, paused queues and concurrency semaphores."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Process(models.Model):
    """A running supervisor, worker, dispatcher or scheduler, kept alive by heartbeats."""

    class Kind(models.TextChoices):
        SUPERVISOR = "supervisor"
        WORKER = "worker"
        DISPATCHER = "dispatcher"
        SCHEDULER = "scheduler"

    backend_alias = models.CharField(max_length=100, default="default")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=255, unique=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField()
    supervisor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supervisees"
    )
    metadata = models.JSONField(default=dict, blank=True)
    last_heartbeat_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dj_queue_process"
        verbose_name_plural = "processes"
        indexes = [
            models.Index(fields=["backend_alias", "last_heartbeat_at"], name="dj_queue_process_beat"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (pid {self.pid} on {self.hostname})"


class Pause(models.Model):
    """A paused queue: workers skip it when claiming."""

    backend_alias = models.CharField(max_length=100, default="default")
    queue_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dj_queue_pause"
        constraints = [
            models.UniqueConstraint(fields=["backend_alias", "queue_name"], name="dj_queue_pause_unique"),
        ]

    def __str__(self) -> str:
        return f"pause of {self.queue_name!r}"


class Semaphore(models.Model):
    """Free slots of one concurrency key; ``value`` counts down as jobs take slots."""

    backend_alias = models.CharField(max_length=100, default="default")
    key = models.CharField(max_length=255)
    value = models.IntegerField(default=1)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dj_queue_semaphore"
        constraints = [
            models.UniqueConstraint(fields=["backend_alias", "key"], name="dj_queue_semaphore_unique"),
        ]
        indexes = [
            models.Index(fields=["backend_alias", "expires_at"], name="dj_queue_semaphore_expiry"),
        ]

    def __str__(self) -> str:
        return f"semaphore {self.key} ({self.value} free)"


class UniqueReservation(models.Model):
    """The job holding one unique key (``@unique``), until ``expires_at`` or until it leaves the
    counted states. The unique constraint is what lets only one of two racing enqueues write a job.

    ``job_id`` is a plain column, not a foreign key: a holder that was deleted simply no longer
    counts, and job deletion (retention, discards) never has to look at this table.
    """

    backend_alias = models.CharField(max_length=100, default="default")
    key = models.CharField(max_length=255)
    job_id = models.BigIntegerField(null=True)
    expires_at = models.DateTimeField(null=True)  # None: no period, held while the job counts
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dj_queue_unique_reservation"
        constraints = [
            models.UniqueConstraint(fields=["backend_alias", "key"], name="dj_queue_unique_key"),
        ]

    def __str__(self) -> str:
        return f"unique key {self.key} (job {self.job_id})"
