"""Core's default plugin: answers the first-result hooks last, so any installed plugin wins, and
calls a failed job's per-task ``on_failure`` callback (``dj_queue_job_failed``).

``dj_queue_execute`` has no default here: core's innermost implementation, the task call itself,
joins each call in ``dj_queue.operations.execute``.
"""

from __future__ import annotations

from typing import Any

from dj_queue import hookimpl
from dj_queue.types import Dialect, Waker


@hookimpl(trylast=True)
def dj_queue_dialect(connection: Any) -> Dialect:
    from dj_queue.dialects import GenericDialect

    return GenericDialect(connection)


@hookimpl(trylast=True)
def dj_queue_waker(backend: Any) -> Waker:
    from dj_queue.wakeup import default_waker

    return default_waker(backend)


@hookimpl(trylast=True)
def dj_queue_job_failed(job: Any, error: BaseException) -> None:
    from dj_queue.task_hooks import run_on_failure

    run_on_failure(job, error)
