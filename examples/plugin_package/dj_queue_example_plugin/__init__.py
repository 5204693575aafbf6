"""An example third-party dj_queue plugin: remembers failed jobs and started workers.

Installed, it is found through the ``dj_queue`` entry-point group; nothing else is configured.
``FAILURES`` and ``WORKER_STARTS`` hold what it saw in this process; with
``DJ_QUEUE_EXAMPLE_PLUGIN_LOG`` set, each failure is also appended to that file as a JSON line
(so a parent process can see what a worker process recorded).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from dj_queue import hookimpl

logger = logging.getLogger(__name__)

FAILURES: list[dict[str, Any]] = []
WORKER_STARTS: list[str] = []
_lock = threading.Lock()


@hookimpl
def dj_queue_job_failed(job: Any, error: BaseException) -> None:
    """Record the failed job's id, task and error (never raise: a hook must not add failures)."""
    record = {
        "job_id": getattr(job, "pk", None),
        "task_path": getattr(job, "task_path", None),
        "error": f"{type(error).__name__}: {error}",
    }
    with _lock:
        FAILURES.append(record)
        path = os.environ.get("DJ_QUEUE_EXAMPLE_PLUGIN_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
    logger.warning("job %s (%s) failed: %s", record["job_id"], record["task_path"], record["error"])


@hookimpl
def dj_queue_worker_start(process: Any) -> None:
    """Remember which workers started in this process."""
    with _lock:
        WORKER_STARTS.append(str(getattr(process, "name", "") or process))
