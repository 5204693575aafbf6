"""A fixed pool of long-lived execution threads that knows how many of them are idle.

Workers claim at most ``idle`` jobs, so a claimed job never waits in a local queue behind others.
Each thread keeps its database connection for its whole life and only drops it when it errored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Hashable

from dj_queue.runtime.base import close_connections
from dj_queue.runtime.polling import check_connections

logger = logging.getLogger("dj_queue.runtime")

_STOP = object()


class ThreadPool:
    """``size`` daemon threads running submitted callables, tracking in-flight keys."""

    def __init__(self, size: int, *, name: str = "dj_queue-worker",
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.size = max(1, int(size))
        self._on_error = on_error
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._in_flight: dict[Hashable, float] = {}
        self._name = name
        self._spawned = 0
        self._threads: list[threading.Thread] = []
        # A thread stuck in a job past its deadline is retired: it ends after that job, unseen.
        self._retired: set[threading.Thread] = set()
        self._running: dict[Hashable, threading.Thread] = {}
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._run, name=f"{self._name}-{self._spawned}", daemon=True)
        self._spawned += 1
        self._threads.append(thread)
        thread.start()

    @property
    def idle(self) -> int:
        """Threads with nothing to do (queued work counts as busy)."""
        with self._cond:
            return self.size - len(self._in_flight)

    def in_flight(self) -> list[Hashable]:
        with self._cond:
            return list(self._in_flight)

    def submit(self, key: Hashable, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on a pool thread; ``key`` names it until it returns."""
        with self._cond:
            self._in_flight[key] = time.monotonic()
        self._tasks.put((key, fn))

    def wait_for_idle(self, timeout: float, count: int = 1) -> bool:
        """Wait until at least ``count`` threads are idle; True if they are."""
        with self._cond:
            return self._cond.wait_for(lambda: self.size - len(self._in_flight) >= count, timeout)

    def abandon(self, key: Hashable) -> bool:
        """Give up on the job ``key``: its thread is retired and a new one takes its place.

        For a job that ignored its deadline: the slot frees at once, the stuck thread ends
        whenever its job returns. False if ``key`` is no longer running.
        """
        with self._cond:
            thread = self._running.pop(key, None)
            if thread is None or self._in_flight.pop(key, None) is None:
                return False
            self._retired.add(thread)
            self._threads.remove(thread)
            self._cond.notify_all()
        self._spawn()
        return True

    @property
    def retired(self) -> int:
        """Threads retired while stuck in a job that are still running it."""
        with self._cond:
            self._retired = {thread for thread in self._retired if thread.is_alive()}
            return len(self._retired)

    def shutdown(self, timeout: float) -> list[Hashable]:
        """Let running work finish for up to ``timeout`` seconds; return the keys still running."""
        for _ in self._threads:
            self._tasks.put(_STOP)
        with self._cond:
            self._cond.wait_for(lambda: not self._in_flight, timeout)
            remaining = list(self._in_flight)
        if not remaining:
            for thread in self._threads:
                thread.join(timeout=1)
        return remaining

    def _run(self) -> None:
        try:
            while True:
                item = self._tasks.get()
                if item is _STOP:
                    return
                key, fn = item
                with self._cond:
                    self._running[key] = threading.current_thread()
                try:
                    fn()
                except BaseException as exc:  # a job must never take its thread down
                    self._report(exc)
                    check_connections()
                finally:
                    with self._cond:
                        retired = threading.current_thread() in self._retired
                        if not retired:
                            self._running.pop(key, None)
                            self._in_flight.pop(key, None)
                        self._cond.notify_all()
                if retired:
                    return
        finally:
            close_connections()

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(exc)
        else:
            logger.exception("dj_queue: pool thread error", exc_info=exc)
