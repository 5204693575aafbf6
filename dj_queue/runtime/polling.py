"""The poller: how every runtime loop runs a database step and survives its failure.

A step that raises is reported (logged with what the actor was doing, handed to
``on_thread_error``), the thread's broken connections are dropped so the next query opens a
fresh one (a database restart is survived this way), the loop backs off and goes on. Nothing a
step raises ends an actor's loop.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from django.db import connections

T = TypeVar("T")

# After a failed step the loop waits at least this long: an unreachable database would
# otherwise be hammered by a loop whose polling interval is a few milliseconds.
ERROR_BACKOFF = 1.0


def check_connections() -> None:
    """Drop this thread's connections that errored and are no longer usable.

    Unlike ``close_old_connections`` this ignores ``CONN_MAX_AGE``: runtime threads keep their
    connection for their whole life (reconnecting per job costs far more than the job).
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None or conn.in_atomic_block or not conn.errors_occurred:
            continue
        if conn.is_usable():
            conn.errors_occurred = False
        else:
            conn.close()


class Poller:
    """Runs one loop's steps and waits between its turns.

    ``report(exc, doing)`` reports a failed step; ``stopping`` ends every wait early (shutdown);
    ``backoff`` is how long a failed step waits before the loop goes on (0: the loop's own
    interval is the back-off). ``wake()`` cuts the current ``wait()`` short, from any thread.
    """

    def __init__(self, *, report: Callable[[BaseException, str], None],
                 stopping: threading.Event | None = None, backoff: float = ERROR_BACKOFF) -> None:
        self.report = report
        self.stopping = stopping if stopping is not None else threading.Event()
        self.backoff = backoff
        self._wakeup = threading.Event()

    def attempt(self, doing: str, step: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``step(*args, **kwargs)``, or None when it failed (reported, reconnected, backed off)."""
        try:
            return step(*args, **kwargs)
        except Exception as exc:
            self.report(exc, doing)
            check_connections()
            if self.backoff > 0:
                self.stopping.wait(self.backoff)
            return None

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; ``wake()`` or a stop ends it early."""
        if self.stopping.is_set():
            return
        self._wakeup.wait(seconds)
        self._wakeup.clear()

    def wake(self) -> None:
        self._wakeup.set()
