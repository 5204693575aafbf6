"""Every hook dj_queue calls, grouped by phase.

Lifecycle hooks are fan-out: every implementation runs, one at a time, each failure isolated
(see ``dj_queue.plugins.call_safely``). Extension points marked *first result* stop at the first
implementation that returns something other than ``None``; core registers ``trylast`` defaults so
any installed plugin wins. Hooks in ``WRAPPER_ONLY`` take only ``wrapper=True`` (or old-style
``hookwrapper=True``) implementations around core's own. Each hook is documented in
``docs/hooks.md`` with this exact signature.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import pluggy

from dj_queue.types import AliasedBackend, Dialect, MaintenanceContext, ProcessInfo, WaitingWorker, Waker

if TYPE_CHECKING:  # models and backends need Django's app registry; hookspecs come before it
    from django.db.backends.base.base import BaseDatabaseWrapper

    from dj_queue.compat import Task
    from dj_queue.models import Job

hookspec = pluggy.HookspecMarker("dj_queue")

#: Hooks whose only plain implementation is core's: plugins wrap it and may not replace it.
WRAPPER_ONLY = frozenset({"dj_queue_execute"})


# --- lifecycle: supervisor -------------------------------------------------------------------

@hookspec
def dj_queue_supervisor_start(process: ProcessInfo) -> None:
    """Called when a supervisor has registered and is about to start its actors."""


@hookspec
def dj_queue_supervisor_stop(process: ProcessInfo) -> None:
    """Called when a supervisor begins a graceful shutdown."""


@hookspec
def dj_queue_supervisor_exit(process: ProcessInfo) -> None:
    """Called as a supervisor deregisters, after its actors have stopped."""


# --- lifecycle: worker -------------------------------------------------------------------------

@hookspec
def dj_queue_worker_start(process: ProcessInfo) -> None:
    """Called when a worker has registered, before it claims its first batch."""


@hookspec
def dj_queue_worker_stop(process: ProcessInfo) -> None:
    """Called when a worker is asked to stop and stops claiming."""


@hookspec
def dj_queue_worker_exit(process: ProcessInfo) -> None:
    """Called as a worker deregisters, after its in-flight jobs ended or were released."""


# --- lifecycle: dispatcher ---------------------------------------------------------------------

@hookspec
def dj_queue_dispatcher_start(process: ProcessInfo) -> None:
    """Called when a dispatcher has registered, before its first dispatch."""


@hookspec
def dj_queue_dispatcher_stop(process: ProcessInfo) -> None:
    """Called when a dispatcher is asked to stop."""


@hookspec
def dj_queue_dispatcher_exit(process: ProcessInfo) -> None:
    """Called as a dispatcher deregisters."""


# --- lifecycle: scheduler ----------------------------------------------------------------------

@hookspec
def dj_queue_scheduler_start(process: ProcessInfo) -> None:
    """Called when a scheduler has registered, before it fires recurring tasks."""


@hookspec
def dj_queue_scheduler_stop(process: ProcessInfo) -> None:
    """Called when a scheduler is asked to stop."""


@hookspec
def dj_queue_scheduler_exit(process: ProcessInfo) -> None:
    """Called as a scheduler deregisters."""


# --- jobs --------------------------------------------------------------------------------------

@hookspec
def dj_queue_enqueue_headers(backend_alias: str, jobs: list[Job]) -> dict[str, str] | None:
    """Headers to store with new jobs, asked once per enqueue call before the jobs are written.

    Fan-out, for enqueue and bulk enqueue alike (``jobs`` are the unsaved rows of the call, one for
    a single enqueue). The returned dicts (string keys and values) are merged and stored in every
    job's ``headers``; None or ``{}`` adds nothing. Only called when some plugin implements it; an
    exception propagates and the enqueue fails, writing nothing.
    """


@hookspec
def dj_queue_jobs_created(backend_alias: str, jobs: list[Job]) -> None:
    """Called after the commit that wrote new jobs (enqueue, bulk enqueue), with their rows.

    Fan-out, through ``call_safely``. Every new job counts, ready, scheduled or blocked; a
    rolled-back enqueue calls nothing. Only scheduled when some plugin implements it.
    """


@hookspec
def dj_queue_should_enqueue(backend_alias: str, task: Task, args: list[Any], kwargs: dict[str, Any]) -> bool | None:
    """Called before a call of ``task`` is enqueued (``enqueue``, each call of ``enqueue_all``).

    Fan-out, called directly (not through ``call_safely``) and only when implemented: returning
    ``False`` vetoes the call (``EnqueueVetoed`` reaches the caller, nothing is written; in
    ``enqueue_all`` the whole batch), ``True`` or ``None`` lets it through. Runs before the
    enqueue transaction, after the task's own ``should_enqueue``; an exception propagates to the
    caller of ``enqueue`` and nothing is enqueued.
    """


@hookspec
def dj_queue_jobs_claimed(process: ProcessInfo | None, jobs: list[Job]) -> None:
    """Called after a worker's claim transaction committed, with the claimed ``Job`` rows.

    ``process`` is the claiming worker's ``ProcessInfo`` (None for a claim made outside a worker).
    """


@hookspec
def dj_queue_job_failed(job: Job, error: BaseException) -> None:
    """Called after a job was recorded as FAILED for good (its last attempt, a cancellation, recovery).

    Core's own implementation (``dj_queue.defaults``) calls the task's ``on_failure`` callback.
    """


@hookspec
def dj_queue_job_retried(job: Job, error: BaseException, run_at: datetime.datetime) -> None:
    """Called after a failed attempt was scheduled to run again at ``run_at`` (an aware datetime)."""


@hookspec
def dj_queue_job_rescued(job: Job, error: BaseException) -> None:
    """Called after a job held by a dead process went back to ready, with the recorded crash error."""


@hookspec
def dj_queue_jobs_ready(backend_alias: str, using: str, queue_names: list[str]) -> None:
    """Called inside the transaction that made jobs ready, after the rows are written.

    Fan-out, called by enqueue, bulk enqueue, dispatch of due jobs and retry (the PostgreSQL
    dispatch fast path is one autocommit statement: there it runs right after it). PostgreSQL
    delivers a NOTIFY sent here at commit. An empty ``queue_names`` means the queues are not known.
    Only called when implemented; an exception propagates and rolls the enqueue back.
    """


@hookspec
def dj_queue_jobs_ready_sql(backend_alias: str, using: str, queue_names: list[str]) -> tuple[str, list] | None:
    """The SQL form of ``dj_queue_jobs_ready``: a ``(expression, params)`` doing the same work, or None.

    Optional companion for plugins whose ``dj_queue_jobs_ready`` only runs a statement. A dialect
    that writes a new ready job in one statement (PostgreSQL) evaluates the expressions inside
    that statement and then does not call ``dj_queue_jobs_ready``; when some plugin implements
    ``dj_queue_jobs_ready`` without this companion, the enqueue takes the usual path and calls it.
    None means there is nothing to do for this write.
    """


@hookspec
def dj_queue_jobs_enqueued(backend_alias: str, queue_names: list[str]) -> None:
    """Called after the commit that made jobs ready, with the sorted names of their queues.

    Fan-out, called by enqueue, bulk enqueue, dispatch of due jobs, retry and resume, where core
    wakes its in-process workers. An empty ``queue_names`` means any queue. Wake-up plugins for
    other processes (``dj_queue_plugins.localwake``) send from here; the jobs are visible by then.
    Called through ``call_safely``: an exception is logged and never reaches the enqueue.
    """


@hookspec(firstresult=True)
def dj_queue_execute(job: Job) -> Any:
    """Wrap the execution of one job; the result is the task's return value.

    Wrapper only: implementations are ``@hookimpl(wrapper=True)`` generators whose ``yield`` runs
    the task (and the wrappers inside them) and gives back its return value or raises its
    exception. Core's own implementation, innermost, calls the task once. A plain implementation
    (the old ``dj_queue_execute(job, call)`` form included) is refused when it is registered.
    """


# --- extension points --------------------------------------------------------------------------

@hookspec(firstresult=True)
def dj_queue_dialect(connection: BaseDatabaseWrapper) -> Dialect | None:
    """Return the ``Dialect`` for a Django database connection, or ``None`` if not applicable.

    First result. Dialect plugins check ``connection.vendor``; core's generic ORM dialect answers
    last.
    """


@hookspec(firstresult=True)
def dj_queue_waker(backend: WaitingWorker | AliasedBackend) -> Waker | None:
    """Return the ``Waker`` workers wait on for the backend, or ``None`` if not applicable.

    First result. Workers pass themselves (a ``WaitingWorker``); other callers may pass the
    backend object, and ``dj_queue.wakeup.backend_alias_of`` reads the alias of either. The notify
    plugin answers on PostgreSQL with ``listen_notify``; core's in-process waker (sleep with early
    wake-up) answers last.
    """


@hookspec
def dj_queue_scheduler_maintenance(scheduler: MaintenanceContext) -> None:
    """Called from the scheduler loop on every tick; maintenance plugins (cleanup) do their work.

    ``scheduler`` offers ``backend_alias``, ``using`` and the backend's resolved ``options``.
    """
