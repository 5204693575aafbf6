"""LISTEN/NOTIFY wakeup (PostgreSQL): a worker wakes when a job becomes ready, not at its next poll.

The sending side implements ``dj_queue_jobs_ready``: inside the transaction that made jobs ready it
runs ``pg_notify(channel, queue names)``, which PostgreSQL delivers at commit (never on rollback).
The receiving side answers ``dj_queue_waker`` with a ``NotifyWaker``: the in-process waker plus a
daemon thread that LISTENs on its own connection and wakes the worker when a notification names a
queue the worker serves. A dropped connection is reported and retried with backoff; polling stays
the correctness path, so a lost notification costs at most one polling interval.

Applies when the backend's database is PostgreSQL, its ``listen_notify`` option is on (the default)
and psycopg 3.2+ is installed; otherwise core's in-process waker answers. psycopg is imported
inside functions so this module imports without it.

Behind a transaction-pooling PgBouncer ``LISTEN`` silently does nothing useful: the server
connection that listened goes back to the pool after the statement. The listener connects through
``notify_database_alias`` (a direct connection) when it is set, and otherwise notices a pooler (the
backend pid the server reports differs from the one the connection announced), logs one warning
and answers no waker, so workers poll (and local wake-ups may answer). Sending needs no direct connection, since ``pg_notify`` runs
inside the transaction that made jobs ready and is delivered at its commit.
"""

from __future__ import annotations

import hashlib
import logging
import re
import select
import socket
import threading
from functools import lru_cache
from typing import Any, Callable, Iterable

from django.db import connections

from dj_queue import hookimpl
from dj_queue.wakeup import InProcessWaker, backend_alias_of, matches

logger = logging.getLogger("dj_queue.notify")

# PostgreSQL refuses payloads of 8000 bytes or more; a longer list of names is sent as "any queue".
PAYLOAD_LIMIT = 7999
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# Without traffic for this long the listener checks its connection (a silently dropped TCP
# connection would otherwise never wake select()).
PING_AFTER = 30.0
# The listener's own connection must not block a worker's shutdown on an unreachable server.
CONNECT_TIMEOUT = 10

@lru_cache(maxsize=None)
def channel_name(backend_alias: str) -> str:
    """The NOTIFY channel of a backend alias: a lower-case identifier well under 63 bytes."""
    safe = re.sub(r"[^a-z0-9_]", "_", backend_alias.lower())
    if safe == backend_alias and len(safe) <= 40:
        return f"dj_queue_{safe}"
    # Aliases that differ only in case or punctuation must not share a channel.
    return f"dj_queue_{safe[:40]}_{hashlib.sha1(backend_alias.encode()).hexdigest()[:8]}"


def payload_for(queue_names: Iterable[str]) -> str:
    """Queue names joined by commas; "" (any queue) when they do not fit or cannot be split back."""
    names = sorted(set(queue_names))
    text = ",".join(names)
    if any("," in name for name in names) or len(text.encode()) > PAYLOAD_LIMIT:
        return ""
    return text


def queues_in(payload: str) -> list[str]:
    """The queue names a payload carries; an empty list means any queue."""
    return [name for name in payload.split(",") if name]


def notify_channel(backend_alias: str, using: str) -> str | None:
    """The channel enqueues on ``using`` notify for ``backend_alias``, or None when NOTIFY is off."""
    from dj_queue.dialects import backend_option

    if connections[using].vendor == "postgresql" and backend_option(backend_alias, "listen_notify"):
        return channel_name(backend_alias)
    return None


@hookimpl
def dj_queue_jobs_ready(backend_alias: str, using: str, queue_names: list[str]) -> None:
    notify = dj_queue_jobs_ready_sql(backend_alias, using, queue_names)
    if notify is not None:
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT {notify[0]}", notify[1])


@hookimpl
def dj_queue_jobs_ready_sql(backend_alias: str, using: str, queue_names: list[str]) -> tuple[str, list] | None:
    """``pg_notify`` as an expression: a single-statement enqueue carries it in that statement."""
    channel = notify_channel(backend_alias, using)
    if channel is None:
        return None
    return "pg_notify(%s, %s)", [channel, payload_for(queue_names)]


OPTION_KEYS = ("listen_notify", "database_alias", "notify_database_alias", "on_thread_error")


POOLER_WARNING = ("dj_queue: the notify listener's connection to database %r goes through a connection pooler, "
                  "where LISTEN does not work; workers poll only (set notify_database_alias to a direct connection)")


def same_pid(connection: Any, server_pid: int) -> bool:
    """False behind a pooler: PgBouncer answers the startup with a made-up pid of its own."""
    return server_pid == connection.info.backend_pid


def behind_pooler(using: str) -> bool:
    """True when Django's connection ``using`` reaches PostgreSQL through a pooler such as PgBouncer."""
    django_connection = connections[using]
    try:
        with django_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            server_pid = cursor.fetchone()[0]
    except Exception:  # unreachable now: the listener reports it and retries
        return False
    return not same_pid(django_connection.connection, server_pid)


class PoolerDetected(Exception):
    """The listener's connection goes through a connection pooler, where LISTEN cannot work."""


@hookimpl
def dj_queue_waker(backend: Any) -> NotifyWaker | None:
    alias = backend_alias_of(backend)
    options = getattr(backend, "options", None)
    if not isinstance(options, dict):
        from dj_queue.dialects import backend_option

        options = {key: backend_option(alias, key) for key in OPTION_KEYS}
    using = options.get("notify_database_alias") or options["database_alias"]
    if not options["listen_notify"] or connections[using].vendor != "postgresql" or not psycopg_ready():
        return None
    if behind_pooler(using):
        # None, not a listener that would never hear anything: local wake-ups may answer instead.
        logger.warning(POOLER_WARNING, using)
        return None
    # Given a worker (it has ``on_error``), errors reach its own on_thread_error handler; a
    # plugin may not build the runtime's reporter itself, so other callers get the log only.
    on_error = getattr(backend, "on_error", None) or _log_error
    return NotifyWaker(alias, using, selectors=getattr(backend, "queues", None) or None, on_error=on_error)


def _log_error(exc: BaseException) -> None:
    logger.error("dj_queue: notify listener error: %r", exc, exc_info=exc)


@lru_cache(maxsize=1)
def psycopg_ready() -> bool:
    """True when psycopg 3.2+ (``notifies(timeout=...)``) is importable."""
    try:
        import inspect

        import psycopg
    except ImportError:
        return False
    if "timeout" not in inspect.signature(psycopg.Connection.notifies).parameters:
        logger.warning("dj_queue: LISTEN/NOTIFY needs psycopg 3.2 or newer; workers poll only")
        return False
    return True


def connection_params(using: str) -> dict[str, Any]:
    """psycopg connect arguments for database ``using``, from Django's settings for it."""
    params = connections[using].get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):  # Django's own cursor setup
        params.pop(key, None)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    params.setdefault("application_name", "dj_queue notify listener")
    return params


class NotifyWaker(InProcessWaker):
    """In-process wakeups plus a daemon thread turning NOTIFYs on the backend's channel into wakeups."""

    def __init__(self, backend_alias: str, using: str = "default", selectors: Iterable[str] | None = None,
                 on_error: Callable[[BaseException], Any] | None = None) -> None:
        super().__init__(backend_alias, selectors)
        self.channel = channel_name(backend_alias)
        self.listening = threading.Event()  # set while LISTEN is in effect
        self.backend_pid: int | None = None  # the listener's server process, while connected
        self.using = using
        self._params = connection_params(using)
        self._on_error = on_error or (lambda exc: logger.error("dj_queue: notify listener: %r", exc))
        self._stop = threading.Event()
        # Writing to this socket interrupts the listener's select() at once on close().
        self._interrupt_r, self._interrupt_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"dj_queue-notify-{backend_alias}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening: end the thread (bounded join) and close its connection."""
        super().close()
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._interrupt_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        try:
            while not self._stop.is_set():
                try:
                    conn = self._connect()
                except PoolerDetected:
                    logger.warning(POOLER_WARNING, self.using)
                    return
                except Exception as exc:
                    delay = self._failed(exc, delay)
                    continue
                delay = BACKOFF_FIRST
                try:
                    self._listen(conn)
                except Exception as exc:
                    delay = self._failed(exc, delay)
                finally:
                    self.listening.clear()
                    conn.close()
        finally:
            self._interrupt_r.close()
            self._interrupt_w.close()

    def _failed(self, exc: BaseException, delay: float) -> float:
        """Report a connection error, wait ``delay`` (unless closing) and return the next delay."""
        if not self._stop.is_set():
            self._on_error(exc)
            self._stop.wait(delay)
        return min(delay * 2, BACKOFF_MAX)

    def _connect(self) -> Any:
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(**self._params, autocommit=True)
        try:
            # The waker hook checked Django's connection; this one may have been made another way
            # (a NotifyWaker built directly) or reach another server after a reconnection.
            server_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            if not same_pid(conn, server_pid):
                raise PoolerDetected()
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except Exception:
            conn.close()
            raise
        self.backend_pid = server_pid
        # A job may have become ready while nobody listened (startup, or the connection was down).
        # Woken before ``listening`` is set, so whoever waits for ``listening`` sees this wakeup.
        self.notify()
        self.listening.set()
        return conn

    def _listen(self, conn: Any) -> None:
        """Wake the worker for every matching notification until ``close()`` or a connection error."""
        while not self._stop.is_set():
            self._drain(conn)
            readable, _, _ = select.select([conn.fileno(), self._interrupt_r], [], [], PING_AFTER)
            if self._interrupt_r in readable:
                return
            if not readable:
                conn.execute("SELECT 1")  # raises when the connection silently died

    def _drain(self, conn: Any) -> None:
        for notification in conn.notifies(timeout=0):
            names = queues_in(notification.payload)
            if not names or any(matches(self.selectors, name) for name in names):
                self.notify()
