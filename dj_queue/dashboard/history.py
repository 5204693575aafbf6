"""A job's attempts, one row each, built from ``Job.worker_ids`` and ``Job.errors``.

``worker_ids`` has one entry per attempt and ``errors`` one per failed attempt, both in order.
An error names its worker when the worker wrote it; a crash found by recovery does not, so it
belongs to the next attempt not yet matched. An error recorded after every attempt was matched
(a job cancelled or discarded while waiting) is a row of its own, with no attempt number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dj_queue.dashboard.health import failure_kind


@dataclass
class AttemptRow:
    number: int | None  # None: recorded while the job was not running
    worker_id: str = ""
    outcome: str = ""  # "failed" | "cancelled" | "discarded" | "running" | "succeeded" | "unknown"
    error: dict[str, Any] | None = None


def attempt_rows(job: Any, state: str) -> list[AttemptRow]:
    """The attempts of ``job`` (in ``state``), oldest first."""
    rows = [AttemptRow(number, worker_id=str(worker)) for number, worker in
            enumerate(job.worker_ids or [], start=1)]
    extra: list[AttemptRow] = []
    pointer = 0
    for error in job.errors or []:
        error = error if isinstance(error, dict) else {"message": str(error)}
        index = _attempt_for(rows, pointer, str(error.get("worker_id") or ""))
        if index is None:
            extra.append(AttemptRow(None, outcome=failure_kind(error.get("exception_class")), error=error))
            continue
        rows[index].error = error
        rows[index].outcome = failure_kind(error.get("exception_class"))
        pointer = index + 1
    if rows and rows[-1].error is None:
        rows[-1].outcome = {"claimed": "running", "finished": "succeeded"}.get(state, "unknown")
    for row in rows:
        row.outcome = row.outcome or "unknown"
    return rows + extra


def _attempt_for(rows: list[AttemptRow], start: int, worker_id: str) -> int | None:
    if start >= len(rows):
        return None
    if not worker_id:
        return start
    for index in range(start, len(rows)):
        if rows[index].worker_id == worker_id:
            return index
    return start
