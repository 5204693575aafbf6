"""What an operator must see first: queues nobody serves, due jobs nobody dispatches, processes
that stopped beating, and the retrying / rescued / cancelled jobs of the new lifecycle.

A process is *stale* when its last heartbeat is older than ``process_alive_threshold`` (default
300 s), measured on the database clock: the same rule the runtime uses to prune a dead process
and fail over its jobs, so the dashboard never calls "dead" what the runtime still trusts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from dj_queue.dashboard.backends import Backend
from dj_queue.models import FailedExecution, Job, Process, ScheduledExecution
from dj_queue.wakeup import matches

CANCELLED_CLASS = "dj_queue.exceptions.JobCancelledError"
DISCARDED_SUFFIX = "ConcurrencyLimitDiscarded"
# How many stale processes the banner names; the processes table lists them all.
NAMED = 5
LIFECYCLE = ("retrying", "rescued", "cancelled")


@dataclass
class Health:
    """Problems for the red banner; ``ok`` when there are none."""

    unserved: list[tuple[str, int]] = field(default_factory=list)  # (queue, ready jobs)
    stale: list[Process] = field(default_factory=list)
    stale_count: int = 0
    live_workers: int = 0
    # Scheduled jobs (retries among them) already due while no dispatcher is alive to promote them.
    due_undispatched: int = 0

    @property
    def ok(self) -> bool:
        return not self.unserved and not self.stale_count and not self.due_undispatched


def failure_kind(exception_class: str | None) -> str:
    """How a failed job ended: "cancelled", "discarded" (by a concurrency limit) or "failed"."""
    if exception_class == CANCELLED_CLASS:
        return "cancelled"
    if (exception_class or "").endswith(DISCARDED_SUFFIX):
        return "discarded"
    return "failed"


def stale_processes(processes: QuerySet, backend: Backend) -> QuerySet:
    """``processes`` (annotated with ``heartbeat_age``) whose heartbeat is past the threshold."""
    return processes.filter(heartbeat_age__gt=timedelta(seconds=backend.alive_threshold))


def health(backend: Backend, processes: QuerySet, queues: list) -> Health:
    """Queues with ready jobs that no live worker serves (paused ones excepted), due scheduled jobs
    without a live dispatcher, and stale processes.

    Two queries whatever the size of the tables (live workers' and dispatchers' rows, the first few
    stale processes); one more when no dispatcher is alive, or when more processes are stale than
    the banner names.
    """
    threshold = timedelta(seconds=backend.alive_threshold)
    live = processes.filter(kind__in=[Process.Kind.WORKER, Process.Kind.DISPATCHER], heartbeat_age__lte=threshold)
    live = list(live.values_list("kind", "metadata"))
    selectors = [(metadata or {}).get("queues") for kind, metadata in live if kind == Process.Kind.WORKER]
    stale = stale_processes(processes, backend).order_by("last_heartbeat_at", "pk")
    named = list(stale[:NAMED])
    report = Health(stale=named, stale_count=stale.count() if len(named) == NAMED else len(named),
                    live_workers=len(selectors))
    if not any(kind == Process.Kind.DISPATCHER for kind, _ in live):
        report.due_undispatched = ScheduledExecution.objects.using(backend.using).filter(
            backend_alias=backend.alias, scheduled_at__lte=timezone.now()).count()
    report.unserved = [
        (row.name, row.ready) for row in sorted(queues, key=lambda r: r.name)
        if row.ready and not row.paused and not any(matches(s or ["*"], row.name) for s in selectors)
    ]
    return report


def lifecycle_counts(backend: Backend) -> dict[str, int]:
    """Retrying, rescued and cancelled jobs of the backend, in three index-bound queries.

    None of them reads the finished history: retrying jobs are among the unfinished ones (the
    ``finished_at`` index's NULL range), rescued ones come from the ``crashes`` index (the few
    jobs with a crash), cancelled ones from the failed table.
    """
    jobs = Job.objects.using(backend.using).filter(backend_alias=backend.alias)
    return {
        "retrying": lifecycle_jobs(jobs, "retrying").count(),
        "rescued": lifecycle_jobs(jobs, "rescued").count(),
        "cancelled": FailedExecution.objects.using(backend.using).filter(
            backend_alias=backend.alias, exception_class=CANCELLED_CLASS).count(),
    }


def lifecycle_jobs(jobs: QuerySet, name: str) -> QuerySet:
    """The jobs of ``jobs`` that are retrying, rescued or cancelled (see ``lifecycle_condition``)."""
    return jobs.filter(lifecycle_condition(name))


def lifecycle_condition(name: str) -> Q:
    """Retrying: waiting (not running, not finished) after at least one attempt. Rescued: taken
    back from a process that died at least once. Cancelled: failed with ``JobCancelledError``."""
    if name == "retrying":
        return Q(finished_at__isnull=True, last_attempted_at__isnull=False, claimed_execution__isnull=True)
    if name == "rescued":
        return Q(crashes__gt=0)
    if name == "cancelled":
        return Q(failed_execution__exception_class=CANCELLED_CLASS)
    raise ValueError(f"unknown lifecycle filter {name!r}; choose one of {', '.join(LIFECYCLE)}")
