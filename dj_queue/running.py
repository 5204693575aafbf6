"""The attempts running in this process, and how one is interrupted (timeout or cancellation).

``operations.execute`` registers an ``Attempt`` around each task body; the worker's watchdog
looks at them to enforce deadlines and cancellation requests; ``dj_queue.api.cancel_requested``
reads them. Interrupting means: a coroutine task is cancelled on its event loop; a sync task gets
the exception raised asynchronously in its thread, which Python delivers between bytecodes (so
not inside a blocking C call such as ``time.sleep`` or a socket read: those finish first).
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

from dj_queue.exceptions import JobCancelledError, JobTimeoutError

_lock = threading.Lock()
_attempts: dict[int, Attempt] = {}

TIMEOUT, CANCEL = "timeout", "cancel"


class Attempt:
    """One running attempt of a job in this process."""

    def __init__(self, job: Any, *, timeout: float | None, policy: Any = None, coroutine: bool = False) -> None:
        self.job = job
        # A coroutine task is only ever cancelled on its event loop: an exception raised into the
        # waiting thread would land in asgiref's machinery instead of the task.
        self.coroutine = coroutine
        self.policy = policy
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = None if timeout is None else self.started + timeout
        self.thread_ident = threading.get_ident()
        self.cancel_requested = False
        self.cancel_seen_at = 0.0
        self.interrupted: str | None = None  # TIMEOUT or CANCEL, once interrupted
        self.interrupted_at = 0.0
        self._lock = threading.Lock()
        self._in_body = False
        self._loop: Any = None
        self._future: Any = None

    @property
    def is_coroutine(self) -> bool:
        return self.coroutine

    # --- in the attempt's thread ------------------------------------------------------------

    def run(self, body: Any) -> Any:
        """Call ``body()``; only while it runs may the watchdog raise into this thread."""
        with self._lock:
            self._in_body = True
        try:
            return body()
        finally:
            with self._lock:
                self._in_body = False

    def bind(self, loop: Any, future: Any) -> None:
        """Remember the event loop and task of a coroutine task, so cancelling it is clean."""
        with self._lock:
            self._loop, self._future = loop, future
            interrupted = self.interrupted
        if interrupted is not None:  # interrupted before the coroutine even started
            loop.call_soon_threadsafe(future.cancel)

    def translate(self, error: BaseException) -> BaseException:
        """The error to record: an interruption becomes ``JobTimeoutError`` / ``JobCancelledError``."""
        if self.interrupted == TIMEOUT and not isinstance(error, JobCancelledError):
            return JobTimeoutError(f"job {self.job.pk} ({self.job.task_path}) ran past its timeout of "
                                   f"{self.timeout:g}s")
        if self.interrupted == CANCEL or (self.cancel_requested and _is_cancellation(error)):
            return JobCancelledError(f"job {self.job.pk} ({self.job.task_path}) was cancelled while running")
        return error

    # --- from the watchdog ------------------------------------------------------------------

    def interrupt(self, why: str) -> bool:
        """Stop the body with ``why`` (TIMEOUT or CANCEL); False if it is not running any more."""
        with self._lock:
            if self.interrupted is not None:
                return False
            self.interrupted, self.interrupted_at = why, time.monotonic()
            if self._future is not None:
                self._loop.call_soon_threadsafe(self._future.cancel)
                return True
            if self.coroutine:
                return True  # not started on its loop yet: bind() cancels it at once
            if not self._in_body:
                return False
            error = JobTimeoutError if why == TIMEOUT else JobCancelledError
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_ident), ctypes.py_object(error))
            return True


def _is_cancellation(error: BaseException) -> bool:
    import asyncio

    return isinstance(error, (asyncio.CancelledError, JobCancelledError))


def start(job: Any, *, timeout: float | None, policy: Any = None, coroutine: bool = False) -> Attempt:
    attempt = Attempt(job, timeout=timeout, policy=policy, coroutine=coroutine)
    with _lock:
        _attempts[job.pk] = attempt
    return attempt


def end(attempt: Attempt) -> None:
    with _lock:
        if _attempts.get(attempt.job.pk) is attempt:
            del _attempts[attempt.job.pk]


def get(job_id: int) -> Attempt | None:
    with _lock:
        return _attempts.get(job_id)


def all_attempts() -> list[Attempt]:
    with _lock:
        return list(_attempts.values())
