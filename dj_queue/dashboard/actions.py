"""Operator actions, shared by the dashboard and the admin changelists.

Each action names the permission it needs, describes what it is about to do (for the
confirmation page) and runs through ``dj_queue.operations``, never around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from django.db.models import QuerySet

from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.dashboard.backends import Backend
from dj_queue.dashboard.filters import JobFilter
from dj_queue.dashboard.queries import STATES, state_rows
from dj_queue.exceptions import NotCancellableError
from dj_queue.models import FailedExecution, Job
from dj_queue.models.jobs import PRIORITY_MAX, PRIORITY_MIN
from dj_queue.operations import jobs as job_ops
from dj_queue.operations import queues as queue_ops
from dj_queue.operations import recurring as recurring_ops

# Waiting and running jobs are cancelled (their record kept), not deleted; clear() still
# discards a queue's ready jobs, as QueueInfo.clear() does.
DISCARDABLE = ("failed",)
CANCELLABLE = ("ready", "scheduled", "blocked", "claimed")
STATE_WORDS = {"claimed": "running"}
# Jobs named one by one on a confirmation page; more are counted, not listed.
LISTED = 50


class ActionError(Exception):
    """The request does not describe something this action can do."""


@dataclass
class Target:
    """What an action applies to: a queue, a state, selected job ids or a recurring task key."""

    backend: Backend
    queue: str = ""
    state: str = ""
    ids: list[int] = field(default_factory=list)
    key: str = ""
    everything: bool = False
    # Narrows "all": the list page's filter, sent along with the action.
    filters: JobFilter | None = None
    priority_text: str = ""  # as typed, for "change priority"

    @property
    def priority(self) -> int | None:
        """The typed priority if it is a whole number in -100..100, else None."""
        text = self.priority_text.strip()
        if not (text.isascii() and text.lstrip("-+")[:1].isdigit()):
            return None
        try:
            number = int(text)
        except ValueError:  # "--5", "1.5"
            return None
        return number if PRIORITY_MIN <= number <= PRIORITY_MAX else None

    @property
    def state_word(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    def rows(self) -> QuerySet:
        """Every row of the target state, in its queue and matching its filter."""
        rows = state_rows(self.backend, self.state, self.queue or None)
        return self.filters.apply(rows) if self.filters is not None else rows

    def selected(self) -> str:
        """Names what is selected: "failed job 42 (shop.tasks.send_receipt)", "3 ready jobs"."""
        if self.everything:
            scope = f" in queue {self.queue!r}" if self.queue else ""
            matching = self.filters.describe(without=("queue",)) if self.filters is not None else ""
            if matching:
                scope += f" matching {matching}"
            return f"all {plural(self.rows().count(), f'{self.state_word} job')}{scope}"
        if len(self.ids) == 1:
            named = self.named_jobs()
            task = f" ({named[0].task_path})" if named else ""
            return f"{self.state_word} job {self.ids[0]}{task}"
        return plural(len(self.ids), f"{self.state_word} job")

    def named_jobs(self) -> list[Job]:
        """The selected jobs (id, task, queue) for the confirmation list, at most ``LISTED``."""
        if self.everything or not self.ids:
            return []
        jobs = Job.objects.using(self.backend.using).filter(backend_alias=self.backend.alias, pk__in=self.ids)
        return list(jobs.only("pk", "task_path", "queue_name").order_by("pk")[:LISTED])


def plural(count: int, noun: str) -> str:
    """ "1 failed job", "2 failed jobs"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    permission: str
    needs: str  # "queue" | "jobs" | "key"
    run: Callable[[Target], str]
    states: tuple[str, ...] = ()
    wants_priority: bool = False
    on_all: bool = True  # may act on "all" of a list (its state and filter), not only on selected ids

    def check(self, target: Target) -> None:
        """Raise ``ActionError`` when ``target`` lacks what this action needs."""
        if self.needs == "queue" and not target.queue:
            raise ActionError("no queue given")
        if self.needs == "queue" and queue_ops.queue_name_problem(target.queue):
            raise ActionError(queue_ops.queue_name_problem(target.queue))
        if self.needs == "key" and not target.key:
            raise ActionError("no recurring task key given")
        if self.needs == "jobs":
            if self.states and target.state not in self.states:
                raise ActionError(f"{self.label.lower()} does not apply to {target.state or 'unknown'} jobs")
            if not target.ids and not target.everything:
                raise ActionError("no jobs selected")
            if target.everything and (not self.on_all or target.state not in STATES):
                raise ActionError(f"{self.label.lower()} takes selected jobs, not all of a list")
        if self.wants_priority and target.priority is None:
            raise ActionError(f"the priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}, "
                              f"got {target.priority_text.strip()!r}")

    def describe(self, target: Target) -> str:
        if self.needs == "queue":
            return f"{self.label} queue {target.queue!r} of backend {target.backend.alias!r}"
        if self.needs == "key":
            return f"{self.label} recurring task {target.key!r}"
        if self.wants_priority:
            return f"Set the priority of {target.selected()} to {target.priority}"
        return f"{self.label} {target.selected()}"


def perform(action: Action, target: Target) -> str:
    """Run ``action``; a bounded one in a single write transaction.

    The write transaction (IMMEDIATE on SQLite) takes the write lock up front, so a read-then-write
    does not fail with "database is locked" while the runtime writes. "All" actions and clear run
    batch by batch instead, one transaction each, so they never hold the lock for long.
    """
    if target.everything or action.name == "clear":
        return action.run(target)
    with write_transaction(target.backend.using):
        return action.run(target)


def write_transaction(using: str):
    from dj_queue import plugins

    return plugins.get_dialect(using).write_transaction(using)


def _state_job_ids(target: Target) -> list[int]:
    """The selected ids still in the target state (a tampered or stale id is ignored)."""
    rows = state_rows(target.backend, target.state)
    column = "pk" if target.state == "finished" else "job_id"
    return list(rows.filter(**{f"{column}__in": target.ids}).values_list(column, flat=True))


def _pause(t: Target) -> str:
    done = queue_ops.pause(t.queue, backend_alias=t.backend.alias, using=t.backend.using)
    return f"Paused queue {t.queue!r}." if done else f"Queue {t.queue!r} was already paused."


def _resume(t: Target) -> str:
    done = queue_ops.resume(t.queue, backend_alias=t.backend.alias, using=t.backend.using)
    return f"Resumed queue {t.queue!r}." if done else f"Queue {t.queue!r} was not paused."


def _clear(t: Target) -> str:
    removed = queue_ops.clear(t.queue, backend_alias=t.backend.alias, using=t.backend.using)
    return f"Discarded {plural(removed, 'ready job')} of queue {t.queue!r}."


def _discard(t: Target) -> str:
    if t.everything:
        removed = job_ops.discard_in_batches(t.rows(), using=t.backend.using)
    else:
        removed = job_ops.discard_jobs(_state_job_ids(t), using=t.backend.using)
    return f"Discarded {plural(removed, f'{t.state} job')}."


def _retry(t: Target) -> str:
    if t.everything:
        retried = FailedExecution.retry_all(t.rows())
    else:
        retried = job_ops.retry_failed_jobs(_state_job_ids(t), using=t.backend.using)
    return f"Retried {plural(retried, 'failed job')}."


def _enqueue_again(t: Target) -> str:
    jobs = Job.objects.using(t.backend.using).filter(backend_alias=t.backend.alias, pk__in=t.ids)
    new_ids = [enqueue_copy(job, using=t.backend.using).pk for job in jobs.order_by("pk")]
    return f"Enqueued {plural(len(new_ids), 'new job')}: {', '.join(map(str, new_ids)) or 'none'}."


def _cancel(t: Target) -> str:
    outcomes = {job_ops.CANCELLED: 0, job_ops.REQUESTED: 0}
    for job_id in _cancellable_ids(t):
        try:
            outcomes[job_ops.cancel(job_id, backend_alias=t.backend.alias, using=t.backend.using)] += 1
        except (NotCancellableError, TaskResultDoesNotExist):
            continue  # finished or removed since the page was drawn
    cancelled, requested = outcomes[job_ops.CANCELLED], outcomes[job_ops.REQUESTED]
    parts = [f"Cancelled {plural(cancelled, 'job')}"] if cancelled or not requested else []
    if requested:
        parts.append(f"asked {plural(requested, 'running job')} to stop")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _run_now(t: Target) -> str:
    outcomes = {"ready": 0, "blocked": 0, "discarded": 0, None: 0}
    for job_id in _each_id(t):
        outcomes[job_ops.run_now(job_id, backend_alias=t.backend.alias, using=t.backend.using)] += 1
    parts = [f"Moved {plural(outcomes['ready'], 'scheduled job')} to ready"]
    parts += [f"{outcomes[kind]} {kind} by a concurrency limit" for kind in ("blocked", "discarded") if outcomes[kind]]
    return "; ".join(parts) + "."


def _change_priority(t: Target) -> str:
    changed = sum(job_ops.change_priority(job_id, t.priority, backend_alias=t.backend.alias, using=t.backend.using)
                  for job_id in _each_id(t))
    return f"Set the priority of {plural(changed, 'job')} to {t.priority}."


def _cancellable_ids(t: Target) -> Iterator[int]:
    return _each_id(t, t.rows().filter(job__cancel_requested_at__isnull=True))


def _each_id(t: Target, rows: QuerySet | None = None) -> Iterator[int]:
    """The selected ids still in the target state, or, for "all", every one batch by batch."""
    if not t.everything:
        yield from _state_job_ids(t)
        return
    rows = (t.rows() if rows is None else rows).order_by("job_id")
    last = 0
    while True:
        batch = list(rows.filter(job_id__gt=last).values_list("job_id", flat=True)[:job_ops.BATCH])
        if not batch:
            return
        last = batch[-1]
        yield from batch


def _unschedule(t: Target) -> str:
    removed = recurring_ops.unschedule_dynamic(t.key, backend_alias=t.backend.alias, using=t.backend.using)
    if not removed:
        return f"Recurring task {t.key!r} was not removed: it is static (defined in settings) or gone."
    return f"Unscheduled recurring task {t.key!r}."


def enqueue_copy(job: Job, *, using: str) -> Job:
    """A new job with the task, queue, priority and arguments of ``job`` (its id is new)."""
    from dj_queue.operations.concurrency import settings_for_job
    from dj_queue.operations.enqueue import enqueue_job

    concurrency = settings_for_job(job) if job.concurrency_key else None
    return enqueue_job(
        backend_alias=job.backend_alias, using=using, task_path=job.task_path, queue_name=job.queue_name,
        priority=job.priority, args=job.args, kwargs=job.kwargs,
        concurrency_key=job.concurrency_key if concurrency else None, concurrency=concurrency,
    )


ACTIONS = {action.name: action for action in [
    Action("pause", "Pause", "dj_queue.add_pause", "queue", _pause),
    Action("resume", "Resume", "dj_queue.delete_pause", "queue", _resume),
    Action("clear", "Clear (discard every ready job of)", "dj_queue.delete_readyexecution", "queue", _clear),
    Action("discard", "Discard", "dj_queue.delete_job", "jobs", _discard, DISCARDABLE),
    Action("cancel", "Cancel", "dj_queue.change_job", "jobs", _cancel, CANCELLABLE),
    Action("run_now", "Run now", "dj_queue.change_job", "jobs", _run_now, ("scheduled",)),
    Action("change_priority", "Change priority", "dj_queue.change_job", "jobs", _change_priority,
           ("ready", "scheduled", "blocked"), wants_priority=True),
    Action("retry", "Retry", "dj_queue.change_failedexecution", "jobs", _retry, ("failed",)),
    Action("enqueue_again", "Enqueue again", "dj_queue.add_job", "jobs", _enqueue_again, on_all=False),
    Action("unschedule", "Unschedule", "dj_queue.delete_recurringtask", "key", _unschedule),
]}
# Which actions each drill-down page offers.
STATE_ACTIONS = {
    "ready": ("cancel", "change_priority"), "scheduled": ("run_now", "change_priority", "cancel"),
    "blocked": ("cancel", "change_priority"), "claimed": ("cancel",),
    "failed": ("retry", "discard"), "finished": ("enqueue_again",),
}
