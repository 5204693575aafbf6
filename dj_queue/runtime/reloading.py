"""``dj_queue --reload``: restart the runtime when code changes, with Django's autoreloader.

The process the user starts only starts a child and forwards SIGTERM / SIGINT to it (Django's own
parent loop would kill the child outright on SIGTERM). The child runs the supervisor in a thread
while ``autoreload.run_with_reloader`` watches the code on the main thread; on a change it stops
the supervisor gracefully (jobs drained, processes deregistered) before exiting with status 3,
which makes the parent start it again.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from typing import Any, Callable

from django.utils import autoreload

from dj_queue.runtime import signals
from dj_queue.runtime.supervisor import SHUTDOWN_GRACE, Supervisor

logger = logging.getLogger("dj_queue")

RELOAD_EXIT_CODE = 3  # what Django's reloader exits with to be started again


def is_child() -> bool:
    """True in the process the autoreloader started (it runs the runtime)."""
    return os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true"


def stop_timeout(options: dict[str, Any]) -> float:
    """How long a graceful stop may take: the drain, the children's grace, then a margin."""
    return float(options["shutdown_timeout"]) + SHUTDOWN_GRACE + 5.0


def run_parent() -> int:
    """Start the runtime as a child again each time it exits to reload; return its last status."""
    received: list[int] = []
    child: list[subprocess.Popen] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if child and child[-1].poll() is None:
            child[-1].send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in signals.STOP_SIGNALS}
    try:
        environ = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
        while True:
            child.append(subprocess.Popen(autoreload.get_child_arguments(), env=environ, close_fds=False))
            if received:  # a stop signal came while the child was being started
                child[-1].send_signal(received[0])
            code = child[-1].wait()
            if received:  # exiting to reload as the stop signal came: it stopped all the same
                return 0 if code == RELOAD_EXIT_CODE else code
            if code != RELOAD_EXIT_CODE:
                return code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_child(supervisor: Supervisor, run: Callable[[], int], *, stop_timeout: float) -> int:
    """Run ``run`` (the supervisor, built without signal handlers) in a thread under the reloader.

    Returns ``run``'s status when a stop signal ended it; a code change ends the process with
    ``RELOAD_EXIT_CODE`` once the supervisor has stopped.
    """
    child = _Child(supervisor, run, stop_timeout)
    autoreload.autoreload_started.connect(child.started, weak=False, dispatch_uid="dj_queue-reload-started")
    autoreload.file_changed.connect(child.changed, weak=False, dispatch_uid="dj_queue-reload-changed")
    try:
        autoreload.run_with_reloader(child.serve)
    finally:
        autoreload.autoreload_started.disconnect(dispatch_uid="dj_queue-reload-started")
        autoreload.file_changed.disconnect(dispatch_uid="dj_queue-reload-changed")
    if not child.result:
        return 1  # interrupted before the supervisor finished
    if isinstance(child.result[0], BaseException):
        raise child.result[0]
    return child.result[0]


class _Child:
    """The reloader's child: ``serve`` runs on a thread, the signal receivers on the main thread."""

    def __init__(self, supervisor: Supervisor, run: Callable[[], int], stop_timeout: float) -> None:
        self.supervisor, self.run, self.stop_timeout = supervisor, run, stop_timeout
        self.result: list[Any] = []
        self.done, self.stopping = threading.Event(), threading.Event()
        self.reloader: Any = None

    def serve(self) -> None:
        try:
            self.result.append(self.run())
        except BaseException as exc:  # re-raised on the main thread by run_child
            self.result.append(exc)
        finally:
            self.done.set()
            if self.reloader is not None:
                self.reloader.stop()

    def started(self, sender: Any, **kwargs: Any) -> None:
        # Only the main thread may install signal handlers, so the supervisor could not.
        self.reloader = sender
        for signum in self.supervisor.handled_signals():
            signal.signal(signum, self._on_signal)
        if self.done.is_set():
            sender.stop()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum in signals.STOP_SIGNALS:
            self.stopping.set()
        self.supervisor.mailbox.post(signum)

    def changed(self, sender: Any, file_path: Any, **kwargs: Any) -> bool | None:
        """Stop the supervisor before Django's reloader exits; True (no reload) when stopping for good."""
        if self.stopping.is_set() or self.done.is_set():
            return True
        logger.info("dj_queue: %s changed; stopping the runtime to restart it", file_path)
        self.supervisor.stop()
        if not self.done.wait(self.stop_timeout):
            logger.error("dj_queue: the runtime did not stop within %.0fs; restarting anyway", self.stop_timeout)
        return None
