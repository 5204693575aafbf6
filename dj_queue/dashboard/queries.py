"""What the dashboard reads. Every function issues a fixed number of queries, whatever the
number of jobs: counts on the per-state tables, ``GROUP BY`` on indexed columns, and pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from dj_queue.dashboard.backends import Backend
from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    Pause,
    Process,
    ReadyExecution,
    RecurringExecution,
    RecurringTask,
    ScheduledExecution,
    Semaphore,
    WorkflowStep,
)

STATE_MODELS = {
    "ready": ReadyExecution,
    "scheduled": ScheduledExecution,
    "blocked": BlockedExecution,
    "claimed": ClaimedExecution,
    "failed": FailedExecution,
}
STATES = (*STATE_MODELS, "finished")
# Execution tables that carry their own queue_name column (the others join the job for it).
QUEUED_STATES = ("ready", "scheduled", "blocked")
RECENT = timedelta(hours=1)
JOB_STATES = ("ready_execution", "scheduled_execution", "blocked_execution", "claimed_execution",
              "failed_execution")


def summary(backend: Backend, queues: list[QueueRow] | None = None) -> dict[str, int]:
    """Jobs per live state, and jobs that finished successfully in the last hour.

    Given the ``queue_rows`` the page drew anyway, the state totals are their sums (every row of
    a state belongs to one queue), which saves a COUNT per state.
    """
    if queues is None:
        counts = {state: state_rows(backend, state).count() for state in STATE_MODELS}
    else:
        counts = {state: sum(getattr(row, state) for row in queues) for state in STATE_MODELS}
    counts["finished_recently"] = finished_jobs(backend).filter(
        finished_at__gte=timezone.now() - RECENT).count()
    return counts


def throttled_count(backend: Backend) -> int:
    """Scheduled jobs a rate limit sent back to wait (see dj_queue.operations.ratelimits)."""
    return state_rows(backend, "scheduled").filter(throttled=True).count()


def throttled_execution(job: Job) -> ScheduledExecution | None:
    """The job's scheduled row when a rate limit put it there, else None."""
    scheduled = related_or_none(job, "scheduled_execution")
    return scheduled if scheduled is not None and scheduled.throttled else None


def state_rows(backend: Backend, state: str, queue: str | None = None) -> QuerySet:
    """The rows of ``state`` for the backend (execution rows, or jobs for "finished")."""
    if state == "finished":
        rows = finished_jobs(backend)
        return rows.filter(queue_name=queue) if queue else rows
    model = STATE_MODELS[state]
    rows = model.objects.using(backend.using).filter(backend_alias=backend.alias)
    if queue:
        rows = rows.filter(**{"queue_name" if state in QUEUED_STATES else "job__queue_name": queue})
    return rows


def finished_jobs(backend: Backend) -> QuerySet:
    # A failed job has finished_at too (the time of its failure): the failed row tells them apart.
    return Job.objects.using(backend.using).filter(
        backend_alias=backend.alias, finished_at__isnull=False, failed_execution__isnull=True)


@dataclass
class QueueRow:
    name: str
    ready: int = 0
    scheduled: int = 0
    blocked: int = 0
    claimed: int = 0
    failed: int = 0
    oldest_ready: datetime | None = None
    paused: bool = False

    @property
    def latency(self) -> timedelta | None:
        """Age of the oldest ready job."""
        return max(timezone.now() - self.oldest_ready, timedelta(0)) if self.oldest_ready else None


def queue_rows(backend: Backend) -> list[QueueRow]:
    """One row per queue with jobs in any live state, or paused."""
    rows: dict[str, QueueRow] = {}

    def row(name: str) -> QueueRow:
        return rows.setdefault(name, QueueRow(name))

    ready = state_rows(backend, "ready").values("queue_name").annotate(n=Count("pk"), oldest=Min("created_at"))
    for entry in ready.order_by():
        row(entry["queue_name"]).ready = entry["n"]
        row(entry["queue_name"]).oldest_ready = entry["oldest"]
    for state in ("scheduled", "blocked", "claimed", "failed"):
        column = "queue_name" if state in QUEUED_STATES else "job__queue_name"
        grouped = state_rows(backend, state).values_list(column).annotate(n=Count("pk")).order_by()
        for name, count in grouped:
            setattr(row(name), state, count)
    for name in Pause.objects.using(backend.using).filter(backend_alias=backend.alias).values_list(
            "queue_name", flat=True):
        row(name).paused = True
    return list(rows.values())


def processes(backend: Backend) -> QuerySet:
    """Process rows with ``heartbeat_age`` measured on the database clock."""
    age = ExpressionWrapper(Now() - F("last_heartbeat_at"), output_field=DurationField())
    return Process.objects.using(backend.using).filter(backend_alias=backend.alias).annotate(heartbeat_age=age)


def recurring_tasks(backend: Backend) -> QuerySet:
    return RecurringTask.objects.using(backend.using).filter(backend_alias=backend.alias)


def add_runs(backend: Backend, tasks: list[RecurringTask]) -> None:
    """Set ``last_run`` (latest reservation) and ``next_run`` (from the schedule) on each task."""
    from dj_queue.cron import next_run, schedule_error, timezone_error

    last = dict(
        RecurringExecution.objects.using(backend.using)
        .filter(backend_alias=backend.alias, task_key__in=[t.key for t in tasks])
        .values_list("task_key").annotate(last=Max("run_at")).order_by()
    ) if tasks else {}
    now = timezone.now()
    for task in tasks:
        task.last_run = last.get(task.key)
        task.next_run = (None if schedule_error(task.schedule) or timezone_error(task.timezone)
                         else next_run(task.schedule, now, task.timezone))


def semaphores(backend: Backend) -> QuerySet:
    return Semaphore.objects.using(backend.using).filter(backend_alias=backend.alias)


def job_exists(backend: Backend, job_id: int) -> bool:
    return Job.objects.using(backend.using).filter(backend_alias=backend.alias, pk=job_id).exists()


def job_with_state(backend: Backend, job_id: int) -> Job | None:
    """The job with every execution row joined (one query); ``job.state`` names its state."""
    jobs = Job.objects.using(backend.using).select_related(*JOB_STATES)
    job = jobs.filter(backend_alias=backend.alias, pk=job_id).first()  # another backend's job: not here
    if job is not None:
        job.state = state_of(job)
    return job


def state_of(job: Job) -> str:
    """ready | scheduled | blocked | claimed | failed | finished, from joined execution rows."""
    for relation in JOB_STATES:
        if related_or_none(job, relation) is not None:
            return relation.removesuffix("_execution")
    return "finished" if job.finished_at else "unknown"


def related_or_none(job: Job, relation: str):
    try:
        return getattr(job, relation)
    except Exception:  # RelatedObjectDoesNotExist: no row in that state
        return None


def workflow_of(job: Job, using: str) -> int | None:
    """The id of the workflow ``job`` is a step of, for the job page's link (None for most jobs)."""
    if job.workflow_step_id is None:
        return None
    return WorkflowStep.objects.using(using).filter(pk=job.workflow_step_id).values_list(
        "workflow_id", flat=True).first()
