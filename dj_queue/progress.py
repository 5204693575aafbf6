"""Progress a running task reports (``set_progress``) and any process reads (``get_progress``).

Progress is a percentage, a number from 0 to 100; metadata is a small JSON object (at most
``METADATA_MAX_BYTES`` bytes) the task describes its stage with. Each call is one UPDATE of the
job's row, committed at once: readers see it while the task still runs.
"""

from __future__ import annotations

import json
import math
from typing import Any

from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.config import database_for
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Job
from dj_queue.results import job_pk

# Bytes of metadata JSON per job: progress is for a line of status, not for results.
METADATA_MAX_BYTES = 4096


def set_progress(context_or_job_id: Any, value: float, metadata: dict | None = None) -> None:
    """Record the progress (0..100) and optional JSON ``metadata`` of a job; ``EnqueueError`` for
    a value out of range or metadata that is not a small JSON object.

    Takes the task's ``TaskContext`` (``@task(takes_context=True)``) or a job id. Metadata
    replaces the previous metadata; ``None`` keeps it.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 100:
        raise EnqueueError(f"dj_queue: progress must be a number from 0 to 100, got {value!r}")
    fields: dict[str, Any] = {"progress": float(value)}
    if metadata is not None:
        fields["progress_metadata"] = _checked(metadata)
    job_id, using = _job_of(context_or_job_id)
    if not Job.objects.using(using).filter(pk=job_id).update(**fields):
        raise TaskResultDoesNotExist(str(job_id))


def get_progress(job_id: int | str, *, backend_alias: str = "default") -> dict[str, Any]:
    """``{"progress": float | None, "metadata": dict | None}`` of a job, from any process.

    ``TaskResultDoesNotExist`` for an unknown id (or a finished job whose row was not kept).
    """
    row = (Job.objects.using(database_for(backend_alias)).filter(pk=job_pk(job_id))
           .values_list("progress", "progress_metadata").first())
    if row is None:
        raise TaskResultDoesNotExist(str(job_id))
    return {"progress": row[0], "metadata": row[1]}


def _checked(metadata: Any) -> dict:
    if not isinstance(metadata, dict):
        raise EnqueueError(f"dj_queue: progress metadata must be a dict, got {type(metadata).__name__}")
    try:
        text = json.dumps(metadata, allow_nan=False)  # NaN is not JSON: the JSON column refuses it
    except (TypeError, ValueError) as exc:
        raise EnqueueError(f"dj_queue: progress metadata must be JSON-serialisable: {exc}") from None
    if len(text.encode()) > METADATA_MAX_BYTES:
        raise EnqueueError(f"dj_queue: progress metadata is limited to {METADATA_MAX_BYTES} bytes of JSON, "
                           f"got {len(text.encode())}")
    return metadata


def _job_of(context_or_job_id: Any) -> tuple[int, str]:
    result = getattr(context_or_job_id, "task_result", None)
    job_id = job_pk(result.id if result is not None else context_or_job_id)
    return job_id, database_for(getattr(result, "backend", None) or "default")
