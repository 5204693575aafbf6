"""Signals without races: handlers only post to a ``Mailbox`` that the main loop waits on.

A signal handler runs between two bytecodes of the main thread, possibly while it holds a lock;
so handlers never touch locks or events. They append to a deque and write one byte to a pipe,
and the supervisor's loop (``select`` on the pipe) does the real work.
"""

from __future__ import annotations

import collections
import os
import select
import signal
from typing import Any, Callable, Iterable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
QUIT_SIGNALS = (signal.SIGQUIT,)


class Mailbox:
    """A signal-safe, thread-safe queue of messages with a waitable file descriptor."""

    def __init__(self) -> None:
        self._messages: collections.deque[Any] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def post(self, message: Any) -> None:
        """Queue ``message`` and wake the waiter; safe from signal handlers and any thread."""
        self._messages.append(message)
        try:
            os.write(self._write_fd, b"!")
        except (BlockingIOError, OSError):  # pipe full (waiter is busy anyway) or closed
            pass

    def wait(self, timeout: float | None) -> list[Any]:
        """Wait up to ``timeout`` seconds for messages and return them all (maybe none)."""
        if not self._messages:
            try:
                select.select([self._read_fd], [], [], timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for safety
                pass
        self._drain_pipe()
        messages = []
        while self._messages:
            messages.append(self._messages.popleft())
        return messages

    def _drain_pipe(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Close both ends of the pipe (a forked child drops its parent's mailbox)."""
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def install(mailbox: Mailbox, signals: Iterable[int]) -> Callable[[], None]:
    """Route ``signals`` to ``mailbox`` (main thread only); return a function restoring the old ones."""
    previous = {}
    for signum in signals:
        previous[signum] = signal.signal(signum, lambda num, _frame: mailbox.post(num))
    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    return restore


def block(signals: Iterable[int]) -> set:
    """Block ``signals`` in this thread (around ``fork``); return the previous mask."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))


def unblock(signals: Iterable[int]) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signals))


def name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
