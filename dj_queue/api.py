"""Public helpers for application code: queue control and enqueue-on-commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction

from dj_queue.config import database_for
from dj_queue.operations import queues

__all__ = ["QueueInfo", "enqueue_on_commit"]


class QueueInfo:
    """One queue of one backend: its size and latency, and pause / resume / clear.

    >>> QueueInfo("emails").pause()
    """

    def __init__(self, name: str, backend_alias: str = "default") -> None:
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


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue ``task(*args, **kwargs)`` when the surrounding transaction commits.

    "The surrounding transaction" is the application's, on the default database (even when
    dj_queue's tables live on another alias). Outside a transaction it enqueues at once.
    Arguments are validated now, so a bad argument raises here and not silently at commit time.
    """
    backend = task.get_backend()
    backend.validate_task(task)
    validate = getattr(backend, "validate_arguments", None)
    if validate is not None:
        validate(task, list(args), kwargs)
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))
