"""Cleanup: the scheduler's maintenance plugin for job and reservation retention.

Options (SPEC §10): ``clear_finished_jobs_after`` (seconds, default one day; applies while
``preserve_finished_jobs`` is on — otherwise finished jobs are deleted as they finish),
``clear_failed_jobs_after`` and ``clear_recurring_executions_after`` (null keeps them forever).
Runs at most once a minute per scheduler; deletes in batches.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from dj_queue import hookimpl

logger = logging.getLogger("dj_queue.cleanup")

INTERVAL = 60.0
_last_run: dict[int, float] = {}


@hookimpl
def dj_queue_scheduler_maintenance(scheduler: Any) -> None:
    now = time.monotonic()
    if now - _last_run.get(id(scheduler), -INTERVAL) < INTERVAL:
        return
    # Marked only after a successful pass: a failed one (database busy) is retried next tick.
    removed = clean(scheduler.options, backend_alias=scheduler.backend_alias)
    _last_run[id(scheduler)] = now
    if any(removed.values()):
        logger.info("dj_queue cleanup for backend %r removed %s", scheduler.backend_alias, removed)


def clean(options: dict, *, backend_alias: str) -> dict[str, int]:
    """Apply the retention options once; return how many rows of each kind were removed."""
    from dj_queue.operations import retention

    using = options["database_alias"]
    kw = {"backend_alias": backend_alias, "using": using}
    removed = {"finished": 0, "failed": 0, "recurring": 0}
    if options["preserve_finished_jobs"] and options["clear_finished_jobs_after"] is not None:
        removed["finished"] = retention.delete_finished_jobs(
            older_than=timedelta(seconds=options["clear_finished_jobs_after"]), **kw)
    if options["clear_failed_jobs_after"] is not None:
        removed["failed"] = retention.delete_failed_jobs(
            older_than=timedelta(seconds=options["clear_failed_jobs_after"]), **kw)
    if options["clear_recurring_executions_after"] is not None:
        removed["recurring"] = retention.delete_recurring_executions(
            older_than=timedelta(seconds=options["clear_recurring_executions_after"]), **kw)
    return removed
