"""SQLite dialect: immediate write transactions, WAL journal, busy timeout, no row locks.

SQLite has one writer at a time and no SELECT ... FOR UPDATE. A claim reads then writes; started
as a plain (deferred) transaction it could read a snapshot another writer then invalidates, and
fail with SQLITE_BUSY_SNAPSHOT instead of waiting. ``BEGIN IMMEDIATE`` takes the write lock first,
so claimers queue on the busy timeout and each sees the rows the previous one left.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Iterator

from django.db import connections, transaction
from django.db.backends.signals import connection_created

from dj_queue import hookimpl
from dj_queue.dialects import Dialect

BUSY_TIMEOUT_MS = 5000


class SQLiteDialect(Dialect):
    """SQLite 3.35+."""

    vendor = "sqlite"

    def write_transaction(self, using: str) -> AbstractContextManager:
        return _immediate_atomic(using)

    def worker_id_appended(self, worker_id: str) -> Any:
        from django.db.models import F, Func, JSONField, Value

        return Func(F("worker_ids"), Value("$[#]"), Value(worker_id), function="json_insert",
                    output_field=JSONField())


@contextmanager
def _immediate_atomic(using: str) -> Iterator[None]:
    connection = connections[using]
    if connection.in_atomic_block:  # the outer transaction already decided how it began
        with transaction.atomic(using=using):
            yield
        return
    connection.ensure_connection()
    with ExitStack() as stack:
        # Django begins SQLite transactions with "BEGIN <transaction_mode>" (Django 5.1+).
        previous = getattr(connection, "transaction_mode", None)
        connection.transaction_mode = "IMMEDIATE"
        try:
            stack.enter_context(transaction.atomic(using=using))
        finally:
            connection.transaction_mode = previous
        yield


def configure_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Put a new SQLite connection in WAL mode with a busy timeout and NORMAL sync."""
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")  # persistent: only the first connection pays
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; durable up to the last checkpoint
        cursor.execute("PRAGMA busy_timeout")
        if cursor.fetchone()[0] < BUSY_TIMEOUT_MS:  # keep a longer OPTIONS["timeout"]
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


connection_created.connect(configure_connection, dispatch_uid="dj_queue_plugins.sqlite.configure")


@hookimpl
def dj_queue_dialect(connection: Any) -> Dialect | None:
    """Answer for SQLite connections only."""
    return SQLiteDialect(connection) if connection.vendor == "sqlite" else None
