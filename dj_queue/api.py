"""Public helpers for application code: queue control and depths, enqueue-on-commit, failure handling.

Failure handling per task: ``retry``, ``timeout``, ``delivery``, ``exactly_once`` (decorators,
see ``dj_queue.policies``); ``cancel`` a job and, inside a running task, ``cancel_requested``.
Per task too: ``unique`` jobs (``dj_queue.unique``), a ``should_enqueue`` veto and an
``on_failure`` callback (``dj_queue.task_hooks``).
Throughput per task: ``rate_limit`` (see ``dj_queue.ratelimits``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction

from dj_queue import running
from dj_queue.compat import Task
from dj_queue.concurrency import concurrency
from dj_queue.config import backend_options, database_for
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Job
from dj_queue.operations import jobs, queues, recurring
from dj_queue.progress import get_progress, set_progress
from dj_queue.policies import delivery, exactly_once, retry, timeout
from dj_queue.results import job_pk
from dj_queue.task_hooks import on_failure, should_enqueue
from dj_queue.unique import unique
from dj_queue.ratelimits import rate_limit

__all__ = [
    "QueueInfo",
    "cancel",
    "cancel_requested",
    "concurrency",
    "delivery",
    "enqueue_on_commit",
    "exactly_once",
    "get_progress",
    "on_failure",
    "queue_depths",
    "rate_limit",
    "retry",
    "schedule_recurring_task",
    "set_progress",
    "should_enqueue",
    "timeout",
    "unique",
    "unschedule_recurring_task",
]


class QueueInfo:
    """One queue of one backend: its size and latency, and pause / resume / clear.

    >>> QueueInfo("emails").pause()
    """

    def __init__(self, name: str, backend_alias: str = "default") -> None:
        problem = queues.queue_name_problem(name)
        if problem:
            raise ValueError(f"dj_queue: QueueInfo: {problem}")
        self.name = name
        self.backend_alias = backend_alias
        self.using = database_for(backend_alias)

    def _kw(self) -> dict[str, str]:
        return {"backend_alias": self.backend_alias, "using": self.using}

    @property
    def size(self) -> int:
        """Ready jobs waiting in this queue."""
        return queues.queue_size(self.name, **self._kw())

    @property
    def latency(self) -> timedelta:
        """Age of the oldest ready job (zero when empty)."""
        return queues.queue_latency(self.name, **self._kw())

    @property
    def paused(self) -> bool:
        return queues.is_paused(self.name, **self._kw())

    def pause(self) -> bool:
        """Stop future claims from this queue (enqueueing and running jobs go on)."""
        return queues.pause(self.name, **self._kw())

    def resume(self) -> bool:
        return queues.resume(self.name, **self._kw())

    def clear(self) -> int:
        """Discard this queue's ready jobs (only ready ones); return how many."""
        return queues.clear(self.name, **self._kw())

    def __repr__(self) -> str:
        return f"QueueInfo({self.name!r}, backend_alias={self.backend_alias!r})"


def queue_depths(backend_alias: str = "default") -> list[dict[str, Any]]:
    """Every queue of the backend with jobs in a live state, or paused, in one call.

    >>> queue_depths()
    [{"name": "default", "ready": 12, "scheduled": 0, "blocked": 0, "claimed": 4, "failed": 1,
      "latency_seconds": 0.8, "paused": False}]

    Sorted by name; ``latency_seconds`` is the age of the oldest ready job (0.0 when none).
    """
    return queues.queue_depths(backend_alias=backend_alias, using=database_for(backend_alias))


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue ``task(*args, **kwargs)`` when the surrounding transaction commits.

    "The surrounding transaction" is the application's, on the default database (even when
    dj_queue's tables live on another alias). Outside a transaction it enqueues at once.
    Arguments are validated now, so a bad argument raises here and not silently at commit time.
    """
    if not isinstance(task, Task):
        raise EnqueueError(f"dj_queue: enqueue_on_commit needs a @task, and {task!r} is not a task")
    backend = task.get_backend()
    backend.validate_task(task)
    validate = getattr(backend, "validate_arguments", None)
    if validate is not None:
        validate(task, list(args), kwargs)
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


def schedule_recurring_task(*, key: str, task_path: str, schedule: str, args: list | None = None,
                            kwargs: dict | None = None, queue_name: str | None = None,
                            priority: int | None = None, description: str = "",
                            backend_alias: str = "default", timezone: str | None = None) -> Any:
    """Create or update a dynamic recurring task (needs ``scheduler.dynamic_tasks_enabled``).

    ``schedule`` is a cron expression (5 fields, or 6 with seconds last) read in ``timezone``, an
    IANA name (default ``settings.TIME_ZONE``, UTC when unset). An invalid schedule or zone, an
    unknown task or a key used by a static task raises ``EnqueueError``.
    """
    options = backend_options(backend_alias)
    if not options["scheduler"]["dynamic_tasks_enabled"]:
        raise EnqueueError(
            f"dynamic recurring tasks are disabled for backend {backend_alias!r}: set "
            "OPTIONS['scheduler']['dynamic_tasks_enabled'] = True"
        )
    return recurring.schedule_dynamic(
        key, backend_alias=backend_alias, using=options["database_alias"], task_path=task_path,
        schedule=schedule, args=[] if args is None else args, kwargs={} if kwargs is None else kwargs,
        queue_name=queue_name,
        priority=priority, description=description, timezone=timezone,
    )


def unschedule_recurring_task(key: str, *, backend_alias: str = "default") -> int:
    """Remove a dynamic recurring task; returns how many were removed (0 for static keys)."""
    return recurring.unschedule_dynamic(key, backend_alias=backend_alias, using=database_for(backend_alias))


def cancel(job_id: int | str, *, backend_alias: str = "default") -> str:
    """Cancel a job and keep its record; return ``"cancelled"`` or ``"requested"``.

    A ready, scheduled or blocked job ends FAILED at once with ``JobCancelledError`` (its
    ``get_result`` keeps working, its concurrency slot is given back). A running job is asked to
    stop: a coroutine task is cancelled, a sync task sees ``cancel_requested(context)`` and is
    interrupted after ``timeout_grace`` seconds at worst; it ends FAILED with ``JobCancelledError``.
    Raises ``TaskResultDoesNotExist`` for an unknown id and ``NotCancellableError`` for a job that
    already finished.
    """
    return jobs.cancel(job_pk(job_id), backend_alias=backend_alias, using=database_for(backend_alias))


def cancel_requested(context_or_job_id: Any) -> bool:
    """True when ``cancel()`` asked the running job to stop: poll it from long sync tasks.

    Takes the task's ``TaskContext`` (``@task(takes_context=True)``) or a job id.
    """
    result = getattr(context_or_job_id, "task_result", None)
    job_id = job_pk(result.id if result is not None else context_or_job_id)
    attempt = running.get(job_id)
    if attempt is not None:  # the worker's watchdog reads requests for its running jobs every second
        return attempt.cancel_requested
    backend = getattr(result, "backend", None) or "default"
    return Job.objects.using(database_for(backend)).filter(pk=job_id, cancel_requested_at__isnull=False).exists()
