"""Core in-process wakeup: an enqueue wakes the workers of its backend in this process at once.

Workers wait on a ``Waker`` between polls instead of sleeping. The ``dj_queue_waker`` hook picks
the waker (the notify plugin answers on PostgreSQL); core's default, ``InProcessWaker``, is a
timed wait that ``notify_enqueued`` cuts short when a job is enqueued in the same process
(async mode and embedded supervisors); it then calls the ``dj_queue_jobs_enqueued`` hook, through
which plugins (``dj_queue_plugins.localwake``) wake workers in other processes. Polling stays the
correctness path: a missed wakeup only costs one polling interval.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Iterable

from dj_queue import plugins

_registry_lock = threading.Lock()
# backend alias -> wakers of live workers; weak so a forgotten waker never leaks.
_registry: dict[str, weakref.WeakSet] = {}


def matches(selectors: Iterable[str] | None, queue_name: str) -> bool:
    """True when a worker with these queue selectors could claim from ``queue_name``."""
    if not selectors:
        return True
    for selector in selectors:
        if selector == "*" or selector == queue_name:
            return True
        if selector.endswith("*") and queue_name.startswith(selector[:-1]):
            return True
    return False


class Waker:
    """A timed wait that ``notify()`` ends early. Subclasses may add other wake sources."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds; return True when woken by ``notify()``."""
        woken = self._event.wait(timeout)
        # Clearing after the wait is safe: a notify racing with it concerns a job that committed
        # before the notify, so the claim that follows sees it anyway.
        self._event.clear()
        return woken

    def notify(self) -> None:
        """Wake the waiter now (or make its next wait return at once)."""
        self._event.set()

    def close(self) -> None:
        """Release what the waker holds; the core waker holds nothing."""


class InProcessWaker(Waker):
    """A waker registered for one backend alias, woken by ``notify_enqueued`` in this process."""

    def __init__(self, backend_alias: str, selectors: Iterable[str] | None = None) -> None:
        super().__init__()
        self.backend_alias = backend_alias
        self.selectors = list(selectors) if selectors else None
        with _registry_lock:
            _registry.setdefault(backend_alias, weakref.WeakSet()).add(self)

    def close(self) -> None:
        with _registry_lock:
            wakers = _registry.get(self.backend_alias)
            if wakers is not None:
                wakers.discard(self)


def notify_enqueued(backend_alias: str, queue_names: Iterable[str] | None = None) -> int:
    """Wake this process's workers of ``backend_alias`` that serve any of ``queue_names``.

    ``None`` wakes them all. Then tells ``dj_queue_jobs_enqueued`` plugins, which wake workers
    elsewhere. Call it after the commit that made the jobs ready. Returns how many wakers of this
    process were notified.
    """
    with _registry_lock:
        wakers = list(_registry.get(backend_alias, ()))
    names = None if queue_names is None else set(queue_names)
    woken = 0
    for waker in wakers:
        selectors = getattr(waker, "selectors", None)
        if names is None or any(matches(selectors, name) for name in names):
            waker.notify()
            woken += 1
    if names is None or names:  # an empty set: nothing became ready
        plugins.call_safely("dj_queue_jobs_enqueued", backend_alias=backend_alias,
                            queue_names=sorted(names or ()))
    return woken


def backend_alias_of(backend: Any) -> str:
    """The alias of a backend given as a backend object, a worker-like object or a plain alias."""
    if isinstance(backend, str):
        return backend
    return getattr(backend, "alias", None) or getattr(backend, "backend_alias", "default")


def default_waker(backend: Any, selectors: Iterable[str] | None = None) -> InProcessWaker:
    """Core's answer to ``dj_queue_waker``: an in-process waker for the backend's alias."""
    return InProcessWaker(backend_alias_of(backend), selectors or getattr(backend, "queues", None))
