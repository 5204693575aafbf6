"""The typed values hooks receive and return: a frozen view of a runtime process, and the
``Dialect`` and ``Waker`` protocols that first-result extension points answer with.

Hooks get a ``ProcessInfo`` rather than the live actor so a plugin cannot reach into runtime
internals (its threads, pool or stop events) and a value kept past the hook stays true.
"""

from __future__ import annotations

import datetime
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping, Protocol, Sequence, runtime_checkable

__all__ = ["ProcessKind", "ProcessInfo", "MaintenanceContext", "WaitingWorker", "Dialect", "Waker"]

ProcessKind = Literal["supervisor", "worker", "dispatcher", "scheduler"]


@dataclass(frozen=True)
class ProcessInfo:
    """What a lifecycle or claim hook may know about the process it concerns.

    ``metadata`` is what the process row records (a worker's ``queues``, ``threads`` and
    ``polling_interval``; a supervisor's ``mode`` and ``actors``); its keys also read as
    attributes, so ``process.threads`` and ``process.mode`` keep working.
    """

    kind: ProcessKind
    name: str
    pid: int
    hostname: str
    backend_alias: str
    process_id: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen all the way down: a hook must not change what the next hook sees.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields.
        metadata = self.__dict__.get("metadata", {})
        if name in metadata:
            return metadata[name]
        raise AttributeError(
            f"ProcessInfo of a {self.__dict__.get('kind', '?')} has no attribute {name!r}"
        )

    @classmethod
    def of(cls, actor: Any) -> ProcessInfo:
        """The view of a runtime actor (supervisor, worker, dispatcher or scheduler) as it is now."""
        return cls(kind=actor.kind, name=actor.name, pid=actor.pid, hostname=actor.hostname,
                   backend_alias=actor.backend_alias, process_id=actor.process_id,
                   metadata=actor.metadata())


class MaintenanceContext(Protocol):
    """What ``dj_queue_scheduler_maintenance`` gets: the scheduler's backend and options."""

    backend_alias: str
    using: str
    options: Mapping[str, Any]


class WaitingWorker(Protocol):
    """What ``dj_queue_waker`` gets from a worker asking for its waker."""

    backend_alias: str
    options: Mapping[str, Any]
    queues: list[str]

    def on_error(self, exc: BaseException) -> None:
        """Report an infrastructure error to the worker's ``on_thread_error``."""
        ...


class AliasedBackend(Protocol):
    """A ``django.tasks`` backend object, as callers other than a worker pass to ``dj_queue_waker``."""

    alias: str


@runtime_checkable
class Waker(Protocol):
    """What ``dj_queue_waker`` returns: the wait a worker does between polls."""

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds; True when woken early because jobs may be ready."""
        ...

    def notify(self) -> None:
        """End the current (or the next) wait early."""
        ...

    def close(self) -> None:
        """Release what the waker holds (sockets, connections)."""
        ...


@runtime_checkable
class Dialect(Protocol):
    """What ``dj_queue_dialect`` returns; subclass ``dj_queue.dialects.Dialect`` to get it all.

    Fast-path methods (``claim``, ``finish`` ...) return None when the dialect has none, and
    core then runs its one generic implementation of the transition.
    """

    vendor: str
    inserts_jobs_in_one_round_trip: bool

    def write_transaction(self, using: str) -> AbstractContextManager: ...

    def insert_job(self, *, using: str, job: Any, execution: Any,
                   ready_sql: Sequence[tuple[str, list]]) -> int | None: ...

    def claim(self, *, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
              process_id: int | None, worker_id: str, now: datetime.datetime) -> list[Any] | None: ...

    def finish(self, *, using: str, job_id: int, process_id: int | None, return_value: Any,
               now: datetime.datetime) -> bool | None: ...

    def dispatch_due(self, *, using: str, backend_alias: str, batch_size: int,
                     now: datetime.datetime) -> int | None: ...
