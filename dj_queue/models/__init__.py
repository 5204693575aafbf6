"""dj_queue's data model: one table per job state, after Solid Queue."""

from dj_queue.models.jobs import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    ReadyExecution,
    ScheduledExecution,
)
from dj_queue.models.ratelimits import RateLimitLog
from dj_queue.models.recurring import RecurringExecution, RecurringTask
from dj_queue.models.runtime import Pause, Process, Semaphore, UniqueReservation
from dj_queue.models.workflows import Workflow, WorkflowStep

__all__ = [
    "BlockedExecution",
    "ClaimedExecution",
    "FailedExecution",
    "Job",
    "Pause",
    "Process",
    "RateLimitLog",
    "ReadyExecution",
    "RecurringExecution",
    "RecurringTask",
    "ScheduledExecution",
    "Semaphore",
    "UniqueReservation",
    "Workflow",
    "WorkflowStep",
]
