"""Core's default plugin: answers the first-result hooks last, so any installed plugin wins."""

from __future__ import annotations

from typing import Any

from dj_queue import hookimpl


@hookimpl(trylast=True)
def dj_queue_dialect(connection: Any) -> Any:
    from dj_queue.dialects import GenericDialect

    return GenericDialect(connection)


@hookimpl(trylast=True)
def dj_queue_execute(job: Any, call: Any) -> Any:
    return call()


@hookimpl(trylast=True)
def dj_queue_waker(backend: Any) -> Any:
    from dj_queue.wakeup import default_waker

    return default_waker(backend)
