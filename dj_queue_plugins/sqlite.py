"""SQLite dialect: immediate write transactions, WAL journal, busy timeout, no row locks.

SQLite has one writer at a time and no SELECT ... FOR UPDATE. A claim reads then writes; started
as a plain (deferred) transaction it could read a snapshot another writer then invalidates, and
fail with SQLITE_BUSY_SNAPSHOT instead of waiting. ``BEGIN IMMEDIATE`` takes the write lock first,
so claimers queue on the busy timeout and each sees the rows the previous one left.

The write lock is what worker processes contend for, so a worker's turn (finish the last batch,
claim the next) holds it as briefly as possible: prepared-once raw statements with ``RETURNING``
(SQLite 3.35+) and id lists passed as one JSON parameter, so every statement text is constant.
"""

from __future__ import annotations

import datetime
import functools
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Iterator, Sequence

from django.db import connections, transaction
from django.db.backends.signals import connection_created

from dj_queue import hookimpl
from dj_queue.dialects import (Dialect, NewJobs, bulk_job_columns, bulk_row_params, insert_parts, job_columns,
                               table_names)

BUSY_TIMEOUT_MS = 5000


@functools.lru_cache(maxsize=1)
def _statements() -> dict[str, str]:
    names = table_names('"')
    columns = ", ".join(f'"{column}"' for column in job_columns())
    return {
        "finish": "DELETE FROM {claimed} WHERE job_id IN (SELECT value FROM json_each(%s)) "
                  "AND process_id IS %s RETURNING job_id".format(**names),
        "outcome": "UPDATE {job} SET finished_at = %s, return_value = %s "
                   "WHERE id IN (SELECT value FROM json_each(%s))".format(**names),
        # {{selector}} survives this format for the per-selector one
        "pick": "DELETE FROM {ready} WHERE id IN (SELECT id FROM {ready} WHERE backend_alias = %s{{selector}}"
                " AND queue_name NOT IN (SELECT queue_name FROM {pause} WHERE backend_alias = %s)"
                " ORDER BY priority DESC, job_id LIMIT %s) RETURNING job_id".format(**names),
        "claim": "INSERT INTO {claimed} (job_id, backend_alias, process_id, created_at) "
                 "SELECT value, %s, %s, %s FROM json_each(%s)".format(**names),
        "attempt": "UPDATE {job} SET started_at = COALESCE(started_at, %s), last_attempted_at = %s, "
                   "worker_ids = json_insert(worker_ids, '$[#]', %s) "
                   "WHERE id IN (SELECT value FROM json_each(%s)) RETURNING {columns}".format(
                       columns=columns, **names),
        # a bulk enqueue's executions, copied from its new jobs: one statement per table
        "ready": "INSERT INTO {ready} (job_id, backend_alias, queue_name, priority, created_at) "
                 "SELECT id, backend_alias, queue_name, priority, %s FROM {job} "
                 "WHERE id IN (SELECT value FROM json_each(%s))".format(**names),
        "scheduled": "INSERT INTO {scheduled} (job_id, backend_alias, queue_name, priority, scheduled_at, "
                     "concurrency_key, created_at) SELECT id, backend_alias, queue_name, priority, scheduled_at, "
                     "concurrency_key, %s FROM {job} WHERE id IN (SELECT value FROM json_each(%s))".format(**names),
    }


def _selector_sql(selector: Any) -> tuple[str, list]:
    """The selector's condition; prefixes compare exactly (SQLite's LIKE ignores ASCII case)."""
    if selector.kind == "prefix":
        return " AND substr(queue_name, 1, %s) = %s", [len(selector.value), selector.value]
    return selector.sql("queue_name")


def _ids(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(pk)) for pk in ids) + "]"


class SQLiteDialect(Dialect):
    """SQLite 3.35+."""

    vendor = "sqlite"
    # In process, so not a round trip, but raw statements instead of two ORM saves.
    inserts_jobs_in_one_round_trip = True

    def write_transaction(self, using: str) -> AbstractContextManager:
        return _immediate_atomic(using)

    def worker_id_appended(self, worker_id: str) -> Any:
        from django.db.models import F, Func, JSONField, Value

        return Func(F("worker_ids"), Value("$[#]"), Value(worker_id), function="json_insert",
                    output_field=JSONField())

    def turn(self, using: str) -> AbstractContextManager:
        """A raw ``BEGIN IMMEDIATE`` transaction yielding a cursor (a savepoint when nested)."""
        return self.raw_transaction(using, "BEGIN IMMEDIATE")

    # --- fast paths: raw statements, one short write transaction --------------------------

    def insert_job(self, *, using: str, job: Any, execution: Any,
                   ready_sql: Sequence[tuple[str, list]]) -> int | None:
        """``INSERT ... RETURNING id`` of the job, then its execution's INSERT: raw statements in
        their own transaction, or in the caller's (without a savepoint, as the ORM path does)."""
        if ready_sql:
            return None  # no SQL form of the announcement on SQLite
        connection = connections[using]
        parts = insert_parts(job, execution, connection)
        with ExitStack() as stack:
            if connection.in_atomic_block or not connection.get_autocommit():
                cursor = stack.enter_context(connection.cursor())
            else:
                cursor = stack.enter_context(self.turn(using))
            cursor.execute("INSERT INTO {job_table} ({job_columns}) VALUES ({job_values}) RETURNING id".format(**parts),
                           parts["job_params"])
            job_id = cursor.fetchone()[0]
            cursor.execute("INSERT INTO {execution_table} ({execution_columns}) VALUES (%s, {execution_values})"
                           .format(**parts), [job_id, *parts["execution_params"]])
        return job_id

    def insert_jobs(self, *, using: str, jobs: NewJobs) -> list[int]:
        """A multi-row ``INSERT ... RETURNING id`` per batch, then one INSERT per execution table
        for the whole bulk (its id list is one JSON parameter)."""
        connection = connections[using]
        columns, constants = bulk_job_columns(connection, jobs)
        head = "INSERT INTO {job} ({columns}) VALUES ".format(
            columns=", ".join(f'"{column}"' for column in columns), **table_names('"'))
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        ids: list[int] = []
        with connection.cursor() as cursor:
            for start, stop in jobs.batches:
                cursor.execute(head + ", ".join([row] * (stop - start)) + " RETURNING id",
                               bulk_row_params(connection, jobs, start, stop, constants))
                # RETURNING's row order is unspecified; new AUTOINCREMENT ids follow the VALUES order
                ids += sorted(found for found, in cursor.fetchall())
            created = connection.ops.adapt_datetimefield_value(jobs.enqueued_at)
            for kind in ("ready", "scheduled"):
                chosen = [job_id for job_id, start in zip(ids, jobs.executions) if start == kind]
                if chosen:
                    cursor.execute(_statements()[kind], [created, _ids(chosen)])
        return ids

    def claim(self, *, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
              process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        with self.turn(using) as cursor:
            return self._claim(cursor, using, backend_alias, selectors, limit, process_id, worker_id, now)

    def claim_rows(self, *, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
                   process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        with connections[using].cursor() as cursor:
            return self._claim(cursor, using, backend_alias, selectors, limit, process_id, worker_id, now)

    def finish(self, *, using: str, job_id: int, process_id: int | None, return_value: Any,
               now: datetime.datetime) -> bool:
        return bool(self.finish_many(using=using, items=[(job_id, return_value)], process_id=process_id, now=now))

    def finish_many(self, *, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                    now: datetime.datetime) -> list[int]:
        with self.turn(using) as cursor:
            return self._finish(cursor, using, items, process_id, now)

    def finish_rows(self, *, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                    now: datetime.datetime) -> list[int]:
        with connections[using].cursor() as cursor:
            return self._finish(cursor, using, items, process_id, now)

    def finish_and_claim(self, *, using: str, backend_alias: str, items: Sequence[tuple[int, Any]],
                         selectors: Sequence[Any], limit: int, process_id: int | None, worker_id: str,
                         now: datetime.datetime) -> tuple[list[int], list]:
        with self.turn(using) as cursor:
            done = self._finish(cursor, using, items, process_id, now) if items else []
            jobs = self._claim(cursor, using, backend_alias, selectors, limit, process_id, worker_id,
                               now) if limit else []
        return done, jobs

    def _finish(self, cursor: Any, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                now: datetime.datetime) -> list[int]:
        sql = _statements()
        ids = [job_id for job_id, _ in items]
        cursor.execute(sql["finish"], [_ids(ids), process_id])
        held = {row[0] for row in cursor.fetchall()}
        if not held:
            return []
        connection = connections[using]
        when = connection.ops.adapt_datetimefield_value(now)
        for value, job_ids in self.outcomes_by_value(using, items, held).items():
            cursor.execute(sql["outcome"], [when, value, _ids(job_ids)])
        return [job_id for job_id in ids if job_id in held]

    def _claim(self, cursor: Any, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
               process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        sql = _statements()
        picked: list[list[int]] = []
        for selector in selectors:
            wanted = limit - sum(map(len, picked))
            if wanted <= 0:
                break
            condition, params = _selector_sql(selector)
            # Rows the previous selector deleted are gone: overlapping selectors never pick twice.
            cursor.execute(sql["pick"].format(selector=condition), [backend_alias, *params, backend_alias, wanted])
            picked.append([row[0] for row in cursor.fetchall()])
        everything = [job_id for group in picked for job_id in group]
        if not everything:
            return []
        when = connections[using].ops.adapt_datetimefield_value(now)
        cursor.execute(sql["claim"], [backend_alias, process_id, when, _ids(everything)])
        cursor.execute(sql["attempt"], [when, when, worker_id, _ids(everything)])
        jobs = {job.pk: job for job in self.jobs_from_rows(using, cursor.fetchall())}
        ordered = []
        for group in picked:  # selector order first, then priority, then age
            ordered += sorted((jobs[job_id] for job_id in group), key=lambda job: (-job.priority, job.pk))
        return ordered


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
