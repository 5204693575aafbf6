"""What every runtime process shares: its process row, heartbeats, lifecycle hooks, error reporting.

``RuntimeProcess`` is the supervisor's and every actor's part: register, heartbeat, deregister,
fire lifecycle hooks, report errors. An ``Actor`` (worker, dispatcher, scheduler) runs ``run()``
in one thread: register, fire the ``start`` hook, loop until stopped, drain, deregister, fire
``exit``. ``stop()`` may be called from any thread. Infrastructure errors go to ``on_thread_error``
and the log; each loop runs its database steps through a ``Poller``, so they never end the loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator

from django.db import connections
from django.utils.module_loading import import_string

from dj_queue import plugins
from dj_queue.operations import processes
from dj_queue.runtime.polling import ERROR_BACKOFF, Poller
from dj_queue.types import ProcessInfo

logger = logging.getLogger("dj_queue.runtime")


@lru_cache(maxsize=None)
def _import_handler(path: str) -> Callable[[BaseException], Any]:
    return import_string(path)


# A lasting failure (the database is down) comes back on every poll: its traceback is logged
# the first time, then at most once per this many seconds with the count of repeats in between.
REPEAT_LOG_INTERVAL = 60.0


class RepeatLimiter:
    """Decides whether an error is logged: the same error again within the interval is not."""

    def __init__(self, interval: float = REPEAT_LOG_INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: tuple[type, str] | None = None
        self._logged_at = 0.0
        self._repeats = 0

    def admit(self, exc: BaseException) -> int | None:
        """None to stay quiet; otherwise how many repeats of this error went unlogged before it."""
        signature, now = (type(exc), str(exc)), time.monotonic()
        with self._lock:
            if signature == self._last and now - self._logged_at < self.interval:
                self._repeats += 1
                return None
            repeats = self._repeats if signature == self._last else 0
            self._last, self._logged_at, self._repeats = signature, now, 0
            return repeats


def error_reporter(options: dict[str, Any]) -> Callable[..., None]:
    """A callable that logs an infrastructure error and hands it to ``on_thread_error``.

    ``on_thread_error`` sees every error; the log gets a repeated one once per minute at most.
    ``report(exc, context)`` names in the log line who met the error doing what.
    """
    path = options.get("on_thread_error")
    limiter = RepeatLimiter()

    def report(exc: BaseException, context: str = "") -> None:
        repeats = limiter.admit(exc)
        if repeats is not None:
            where = f" ({context})" if context else ""
            again = f" (it happened {repeats} more time(s) since last logged)" if repeats else ""
            logger.error("dj_queue: runtime error%s: %r%s", where, exc, again, exc_info=exc)
        if not path:
            return
        try:
            _import_handler(path)(exc)
        except Exception:
            logger.exception("dj_queue: on_thread_error %r itself failed", path)

    return report


def close_connections() -> None:
    """Close this thread's connections (a runtime thread is ending)."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except Exception:  # a broken connection must not stop the shutdown
            logger.debug("dj_queue: closing a connection failed", exc_info=True)


_QUIET_CLASSES: dict[type, type] = {}


def _quiet_class(cls: type) -> type:
    """A subclass of a connection class whose ``queries_logged`` is always False."""
    quiet = _QUIET_CLASSES.get(cls)
    if quiet is None:
        quiet = _QUIET_CLASSES.setdefault(cls, type(cls.__name__, (cls,), {
            "__module__": cls.__module__, "dj_queue_quiet": True, "queries_logged": property(lambda self: False),
        }))
    return quiet


def is_quiet(conn: Any) -> bool:
    """True when ``conn`` (a connection object of this thread) is silenced by ``quiet_queries``."""
    return bool(getattr(type(conn), "dj_queue_quiet", False))


@contextmanager
def quiet_queries(enabled: bool = True) -> Iterator[None]:
    """Keep this thread's queries out of the ``django.db.backends`` log while inside (``silence_polling``).

    Connection objects are per thread, so giving this thread's ones a subclass whose
    ``queries_logged`` is False silences exactly this thread: queries, BEGIN/COMMIT and
    ``connection.queries`` alike. Django's logging configuration and every other thread (the
    execution threads running tasks included) are untouched. Undone on exit.
    """
    touched = []
    if enabled:
        for conn in connections.all():
            if not is_quiet(conn):
                touched.append((conn, type(conn)))
                conn.__class__ = _quiet_class(type(conn))
    try:
        yield
    finally:
        for conn, cls in touched:
            conn.__class__ = cls


@contextmanager
def audible_queries() -> Iterator[None]:
    """Lift ``quiet_queries`` on this thread while user code (a lifecycle hook) runs."""
    lifted = [(conn, type(conn)) for conn in connections.all(initialized_only=True) if is_quiet(conn)]
    for conn, quiet in lifted:
        conn.__class__ = quiet.__mro__[1]
    try:
        yield
    finally:
        for conn, quiet in lifted:
            conn.__class__ = quiet


class RuntimeProcess:
    """A supervisor or an actor: its process row, heartbeats, lifecycle hooks and error reports."""

    kind = "process"
    # How long a failed step of this process's loop waits before the loop goes on.
    error_backoff = ERROR_BACKOFF

    def __init__(self, *, backend_alias: str, options: dict[str, Any], supervisor_id: int | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.backend_alias = backend_alias
        self.options = options
        self.using: str = options["database_alias"]
        self.supervisor_id = supervisor_id
        self._reporter = error_reporter(options)
        self.on_error = on_error or self._reporter
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.name = ""
        self.process_id: int | None = None
        self._stopping = threading.Event()
        self.poller = Poller(report=self.report, stopping=self._stopping, backoff=self.error_backoff)
        self._view: ProcessInfo | None = None

    def metadata(self) -> dict[str, Any]:
        return {}

    def take_name(self) -> None:
        """Name this process after the OS process it runs in (called where it starts: after a fork)."""
        self.pid = os.getpid()
        self.name = processes.process_name(self.kind, self.hostname, self.pid)

    def report(self, exc: BaseException, doing: str) -> None:
        """Report an infrastructure error met while ``doing`` something (the log line says so)."""
        if self.on_error is self._reporter:
            self._reporter(exc, f"{self.name or self.kind}: {doing}")
        else:  # a caller's own on_error takes the error alone
            self.on_error(exc)

    def view(self) -> ProcessInfo:
        """The frozen view hooks get; rebuilt when the process (re)registers."""
        view = self._view
        if view is None or view.process_id != self.process_id or view.name != self.name:
            view = self._view = ProcessInfo.of(self)
        return view

    def hook(self, event: str) -> None:
        with audible_queries():
            plugins.call_safely(f"dj_queue_{self.kind}_{event}", on_error=self.on_error,
                                process=self.view())

    def register(self) -> int:
        """Insert this process's row; raises when the database cannot be reached."""
        process = processes.register(
            kind=self.kind, backend_alias=self.backend_alias, using=self.using, name=self.name,
            supervisor_id=self.supervisor_id, metadata=self.metadata(), pid=self.pid,
            hostname=self.hostname,
        )
        self.process_id = process.pk
        return process.pk

    def heartbeat(self) -> bool | None:
        """Refresh the row: False when it was pruned (gone), None when the database failed."""
        return self.poller.attempt("writing its heartbeat", processes.heartbeat, self.process_id,
                                   using=self.using)

    def deregister(self) -> None:
        """Delete the row (its claims go back to ready); a second try on a fresh connection."""
        # At shutdown the connection may have sat idle long enough for the server to drop it
        # (a restart): the failed try drops it too, and the second one reconnects.
        for _ in range(2):
            if self.process_id is None or self.poller.attempt(
                    "deregistering", processes.deregister, self.process_id, using=self.using) is not None:
                return

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or self.kind} process_id={self.process_id}>"


class Actor(RuntimeProcess):
    """Base of workers, dispatchers and schedulers."""

    kind = "actor"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None

    # --- to override ---------------------------------------------------------------------------

    def loop(self) -> None:
        """Do the actor's work until ``self.stopping``."""
        raise NotImplementedError

    def drain(self) -> None:
        """Finish or hand back in-flight work after the loop ended."""

    def wake(self) -> None:
        """Cut the loop's current wait short (called by ``stop``)."""
        self.poller.wake()

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Register, loop until stopped, drain and deregister, in the calling thread."""
        self.take_name()
        try:
            with quiet_queries(self.silence_polling):
                self._run()
        finally:
            close_connections()

    def _run(self) -> None:
        self.register()
        self.hook("start")
        self._start_heartbeat()
        try:
            self.loop()
        finally:
            self.drain()
            self._stop_heartbeat()
            self.deregister()
            self.hook("exit")

    def stop(self) -> None:
        """Ask the actor to stop (idempotent, any thread)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.hook("stop")
        self.wake()

    @property
    def silence_polling(self) -> bool:
        return bool(self.options.get("silence_polling", True))

    # --- heartbeat -----------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name=f"dj_queue-heartbeat-{self.kind}", daemon=True
        )
        self._heartbeat_thread.start()

    def _stop_heartbeat(self) -> None:
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5)

    def _heartbeat_loop(self) -> None:
        interval = float(self.options["process_heartbeat_interval"])
        try:
            with quiet_queries(self.silence_polling):
                while not self._heartbeat_stop.wait(interval):
                    self.beat()
        finally:
            close_connections()

    def beat(self) -> None:
        """Write one heartbeat; a pruned actor (row gone) stops itself."""
        if self.heartbeat() is False:
            logger.warning("dj_queue: %s %s was pruned; stopping", self.kind, self.name)
            self.stop()
