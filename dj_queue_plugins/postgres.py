"""PostgreSQL dialect: enqueue, claim, finish and dispatch in one statement each.

Commits are the unit of cost on a database server, so each state change is a single statement
of data-modifying CTEs (lock with SKIP LOCKED, delete from one state table, insert into the next,
update the job) that runs as its own transaction in autocommit mode. Imports psycopg only where
an enqueue binds its parameters on the server (``_cursor_classes``).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import sys
import weakref
from typing import Any, Iterator, Sequence

from django.db import DatabaseError, connections
from django.db.models import JSONField

from dj_queue import hookimpl
from dj_queue.dialects import (Dialect, NewJobs, backend_option, bulk_job_columns, insert_parts, json_converter,
                               loaded, model, table_names)

# The parts of a claim: lock ready rows, move them to claimed, then stamp the attempt on the jobs.
CLAIM_CTES = """
picked AS (
    SELECT id, job_id FROM {ready}
    WHERE backend_alias = %s{selector}
      AND queue_name NOT IN (SELECT queue_name FROM {pause} WHERE backend_alias = %s)
    ORDER BY priority DESC, job_id
    LIMIT {limit}
    FOR UPDATE{skip_locked}
), moved AS (
    DELETE FROM {ready} ready USING picked WHERE ready.id = picked.id RETURNING ready.job_id
), claimed AS (
    INSERT INTO {claimed} (job_id, backend_alias, process_id, created_at)
    SELECT job_id, %s::varchar, %s::bigint, %s::timestamptz FROM moved
    RETURNING job_id
)"""
CLAIM_UPDATE = """
UPDATE {job} job
SET started_at = COALESCE(job.started_at, %s::timestamptz), last_attempted_at = %s::timestamptz,
    worker_ids = job.worker_ids || jsonb_build_array(%s::text)
FROM claimed WHERE job.id = claimed.job_id
RETURNING job.*"""
CLAIM_SQL = f"WITH {CLAIM_CTES}{CLAIM_UPDATE}"

FINISH_SQL = """
WITH gone AS (DELETE FROM {claimed} WHERE job_id = %s AND {process} RETURNING job_id)
UPDATE {job} job SET finished_at = %s, return_value = %s FROM gone WHERE job.id = gone.job_id
"""

# Finishing several jobs: drop this process's claims, store each outcome (JSON text, or NULL;
# the column is text, see dj_queue.fields, so no cast: jsonb would reorder keys).
FINISH_MANY_CTES = """
gone AS (
    DELETE FROM {claimed} WHERE job_id = ANY(%s::bigint[]) AND process_id IS NOT DISTINCT FROM %s::bigint
    RETURNING job_id
), outcome AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[]) AS outcome(job_id, value)
), finished AS (
    UPDATE {job} job SET finished_at = %s::timestamptz, return_value = outcome.value
    FROM gone JOIN outcome ON outcome.job_id = gone.job_id
    WHERE job.id = gone.job_id
    RETURNING job.id
)"""
FINISH_MANY_SQL = f"WITH {FINISH_MANY_CTES}\nSELECT id FROM finished"

# Sent before a claim (and a dispatch) in the same query (an implicit transaction, so LOCAL ends with it). A
# claim must walk its index in (priority, job id) order and stop after ``limit`` live rows.
# Without column statistics (a new or truncated table, or one last analyzed while empty;
# autovacuum may be off) PostgreSQL guesses ``backend_alias = %s`` matches 0.5% of the rows and
# prefers reading every ready row then sorting them: with 5,000 jobs waiting that read ~600 rows
# per job claimed. A sort is then only chosen where no index gives the order (pattern selectors).
CLAIM_PLAN = "SET LOCAL enable_sort = off;\n"

# Before a turn, with the backend option ``synchronous_turns`` off: its commit returns without
# waiting for the WAL flush (a server crash may then lose the last turns; see docs/performance.md).
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off;\n"

# A worker's turn, the finish then the next claim: ``FINISH_MANY_SQL`` and ``CLAIM_SQL`` in one
# query (one implicit transaction) or, where server-side parameter binding refuses several
# statements per query, one statement returning one row at least: the finished ids with the
# claimed jobs' columns.
TURN_SQL = f"""WITH {FINISH_MANY_CTES}, {CLAIM_CTES}, started AS ({CLAIM_UPDATE}
)
SELECT ARRAY(SELECT id FROM finished) AS dj_queue_finished, started.*
FROM (SELECT 1) AS one LEFT JOIN started ON true
"""

DISPATCH_SQL = """
WITH due AS (
    SELECT id FROM {scheduled} WHERE backend_alias = %s AND scheduled_at <= %s
      AND concurrency_key IS NULL
    ORDER BY scheduled_at, priority DESC, job_id
    LIMIT %s
    FOR UPDATE{skip_locked}
), moved AS (
    DELETE FROM {scheduled} scheduled USING due WHERE scheduled.id = due.id
    RETURNING scheduled.job_id, scheduled.queue_name, scheduled.priority
)
INSERT INTO {ready} (job_id, backend_alias, queue_name, priority, created_at)
SELECT job_id, %s::varchar, queue_name, priority, %s::timestamptz FROM moved
"""


INSERT_JOB_SQL = """
WITH job AS (INSERT INTO {job_table} ({job_columns}) VALUES ({job_values}) RETURNING id),
execution AS (
    INSERT INTO {execution_table} ({execution_columns}) SELECT id, {execution_values} FROM job
)
SELECT id{ready_sql} FROM job
"""


# A bulk enqueue's batch in one statement: the rows arrive as one JSON array of row arrays
# (json.dumps builds it in C; a parameter per column would be quoted value by value in Python);
# each takes its id from the job sequence in enqueue order, so ids map to rows without relying
# on the order of RETURNING (MATERIALIZED: every part sees the same ids). {defaults} are the
# columns every row shares.
INSERT_JOBS_SQL = """
WITH given AS MATERIALIZED (
    SELECT nextval((SELECT pg_get_serial_sequence('{job}', 'id')::regclass)) AS id, given.*
    FROM (SELECT r->>0 AS queue_name, r->>1 AS task_path, (r->>2)::smallint AS priority, r->>3 AS args,
                 r->>4 AS kwargs, (r->>5)::timestamptz AS scheduled_at, r->>6 AS concurrency_key,
                 r->>7 AS execution, n
          FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS given(r, n)
          ORDER BY n) AS given
), job AS (
    INSERT INTO {job} (id, {columns})
    SELECT id, queue_name, task_path, priority, args, kwargs, scheduled_at, concurrency_key, {defaults}
    FROM given ORDER BY n
), ready AS (
    INSERT INTO {ready} (job_id, backend_alias, queue_name, priority, created_at)
    SELECT id, %s::varchar, queue_name, priority, %s::timestamptz FROM given WHERE execution = 'ready' ORDER BY n
), scheduled AS (
    INSERT INTO {scheduled} (job_id, backend_alias, queue_name, priority, scheduled_at, concurrency_key, created_at)
    SELECT id, %s::varchar, queue_name, priority, scheduled_at, concurrency_key, %s::timestamptz FROM given
    WHERE execution = 'scheduled' ORDER BY n
)
SELECT id FROM given ORDER BY n
"""


@functools.lru_cache(maxsize=1)
def _tables() -> dict[str, str]:
    return table_names()  # unquoted: every name is a plain lower-case identifier


class PostgresDialect(Dialect):
    """PostgreSQL 14+: SKIP LOCKED, jsonb append, single-statement state changes."""

    vendor = "postgresql"
    inserts_jobs_in_one_round_trip = True

    def worker_id_appended(self, worker_id: str) -> Any:
        from django.db.models import F, Func, JSONField, Value

        # ::text: with server-side binding PostgreSQL cannot infer a variadic argument's type.
        array = Func(Value(worker_id), template="jsonb_build_array(%(expressions)s::text)", output_field=JSONField())
        return Func(F("worker_ids"), array, template="%(expressions)s", arg_joiner=" || ",
                    output_field=JSONField())

    def _skip_locked(self, backend_alias: str) -> str:
        return " SKIP LOCKED" if backend_option(backend_alias, "use_skip_locked") else ""

    def claim(self, *, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
              process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        if len(selectors) == 1:  # one statement is its own transaction: no BEGIN/COMMIT trips
            return self._claim_one(using, backend_alias, selectors[0], limit, process_id, worker_id, now)
        with self.write_transaction(using):
            return self.claim_rows(using=using, backend_alias=backend_alias, selectors=selectors, limit=limit,
                                   process_id=process_id, worker_id=worker_id, now=now)

    def claim_rows(self, *, using: str, backend_alias: str, selectors: Sequence[Any], limit: int,
                   process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        jobs: list = []
        for selector in selectors:
            if len(jobs) >= limit:
                break
            # Rows deleted by the previous statement are invisible here, so overlapping
            # selectors never pick a job twice.
            jobs += self._claim_one(using, backend_alias, selector, limit - len(jobs), process_id, worker_id, now)
        return jobs

    def _claim_one(self, using: str, backend_alias: str, selector: Any, limit: int,
                   process_id: int | None, worker_id: str, now: datetime.datetime) -> list:
        sql, params = self._claim_sql(backend_alias, selector, limit, process_id, worker_id, now)
        connection = connections[using]
        with connection.cursor() as cursor:
            _execute_planned(connection, cursor, [sql], params)
            names = _skip_to_rows(cursor)
            jobs = _jobs_from_rows(connection, using, names, cursor.fetchall())
        jobs.sort(key=lambda job: (-job.priority, job.id))
        return jobs

    def _claim_sql(self, backend_alias: str, selector: Any, limit: int, process_id: int | None,
                   worker_id: str, now: datetime.datetime) -> tuple[str, list]:
        condition, selector_params = selector.sql("queue_name")
        sql = CLAIM_SQL.format(selector=condition, limit=int(limit), skip_locked=self._skip_locked(backend_alias),
                               **_tables())
        return sql, self._claim_params(backend_alias, selector_params, process_id, worker_id, now)

    @staticmethod
    def _claim_params(backend_alias: str, selector_params: list, process_id: int | None,
                      worker_id: str, now: datetime.datetime | str) -> list:
        """Parameters of ``CLAIM_CTES`` + ``CLAIM_UPDATE``, in order."""
        return [backend_alias, *selector_params, backend_alias, backend_alias, process_id, now, now, now, worker_id]

    def finish(self, *, using: str, job_id: int, process_id: int | None, return_value: Any,
               now: datetime.datetime) -> bool:
        connection = connections[using]
        value = model("Job")._meta.get_field("return_value").get_db_prep_save(return_value, connection)
        process = "process_id IS NULL" if process_id is None else "process_id = %s"
        params = [job_id, *([] if process_id is None else [process_id]), now, value]
        with connection.cursor() as cursor:
            cursor.execute(FINISH_SQL.format(process=process, **_tables()), params)
            return cursor.rowcount == 1

    def finish_many(self, *, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                    now: datetime.datetime) -> list[int]:
        """One statement: drop the claims this process holds and store every outcome."""
        ids = [job_id for job_id, _ in items]
        # JSON null is stored as SQL NULL, as the ORM does for ``return_value=None``.
        values = [None if value is None else json.dumps(value) for _, value in items]
        with connections[using].cursor() as cursor:
            cursor.execute(FINISH_MANY_SQL.format(**_tables()), [ids, process_id, ids, values, now])
            done = {row[0] for row in cursor.fetchall()}
        return [job_id for job_id in ids if job_id in done]

    finish_rows = finish_many  # one statement: the same inside a caller's transaction

    def finish_and_claim(self, *, using: str, backend_alias: str, items: Sequence[tuple[int, Any]],
                         selectors: Sequence[Any], limit: int, process_id: int | None, worker_id: str,
                         now: datetime.datetime) -> tuple[list[int], list]:
        """The finish and the claim in one round trip and one commit.

        Sent as two statements in one query (an implicit transaction), which measured a little
        cheaper to plan than the single combined statement; with server-side binding, which
        allows one statement per query, as that single statement.
        """
        if len(selectors) != 1 or not items or not limit:
            return None  # the generic turn: finish_rows and claim_rows (both vendor SQL) in one transaction
        # The ids and the time go as text the statement casts (an array literal, ISO 8601): with
        # client-side binding psycopg quotes a list element by element and a datetime field by
        # field, for each of their 2 and 4 places, which was half of the turn's parameter cost.
        ids = "{" + ",".join(str(int(job_id)) for job_id, _ in items) + "}"
        at = now.isoformat()
        values = [None if value is None else json.dumps(value) for _, value in items]
        condition, selector_params = selectors[0].sql("queue_name")
        params = [ids, process_id, ids, values, at,
                  *self._claim_params(backend_alias, selector_params, process_id, worker_id, at)]
        connection = connections[using]
        one_statement = _one_statement_per_query(connection)
        parts = {"selector": condition, "limit": int(limit), "skip_locked": self._skip_locked(backend_alias),
                 **_tables()}
        statements = ([TURN_SQL.format(**parts)] if one_statement
                      else [FINISH_MANY_SQL.format(**parts), CLAIM_SQL.format(**parts)])
        relaxed = (not one_statement and not connection.in_atomic_block
                   and not backend_option(backend_alias, "synchronous_turns"))
        with connection.cursor() as cursor:
            _execute_planned(connection, cursor, statements, params, ASYNC_COMMIT if relaxed else "")
            names = _skip_to_rows(cursor)
            if one_statement:  # one row: the finished ids, then the claimed jobs' columns (or NULLs)
                names = names[1:]
                rows = cursor.fetchall()
                done = set(rows[0][0])
                rows = [row[1:] for row in rows if row[1] is not None]
            else:
                done = {row[0] for row in cursor.fetchall()}
                cursor.nextset()
                names = _column_names(cursor)
                rows = cursor.fetchall()
        jobs = _jobs_from_rows(connection, using, names, rows)
        jobs.sort(key=lambda job: (-job.priority, job.id))
        return [job_id for job_id, _ in items if job_id in done], jobs

    def insert_job(self, *, using: str, job: Any, execution: Any,
                   ready_sql: Sequence[tuple[str, list]]) -> int | None:
        """One statement: the job, its execution and the ``dj_queue_jobs_ready_sql`` expressions.

        In autocommit mode that is one round trip and one commit for a whole enqueue; inside a
        caller's transaction it is part of it (and a NOTIFY waits for its commit).
        """
        connection = connections[using]
        parts = insert_parts(job, execution, connection)
        sql = _insert_job_sql(tuple(parts[key] for key in _INSERT_JOB_PIECES), tuple(expr for expr, _ in ready_sql))
        params = [*parts["job_params"], *parts["execution_params"], *(p for _, values in ready_sql for p in values)]
        with connection.cursor() as cursor:
            prepare = _prepares_insert(connection, cursor, sql)
            _bind_on_server(cursor, prepare)
            try:
                cursor.execute(sql, params)
            except DatabaseError as exc:
                if not (prepare and _statement_lost(exc)):
                    raise
                _forget_prepared(connection, cursor)  # prepared again on the next enqueue
                _bind_on_server(cursor, False)
                cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def insert_jobs(self, *, using: str, jobs: NewJobs) -> list[int]:
        """One statement per batch: the jobs and their ready or scheduled executions."""
        connection = connections[using]
        columns, constants = bulk_job_columns(connection, jobs)
        types = {field.column: field.db_type(connection) for field in model("Job")._meta.concrete_fields}
        # typed: with server-side binding an untyped parameter in a SELECT list would be text
        defaults = ", ".join(f"%s::{types[column]}" for column in columns[-len(constants):])
        sql = INSERT_JOBS_SQL.format(columns=", ".join(columns), defaults=defaults, **_tables())
        ids: list[int] = []
        with connection.cursor() as cursor:
            for start, stop in jobs.batches:
                rows = zip(jobs.rows[start:stop], jobs.executions[start:stop])
                given = json.dumps([(*row, execution) for row, execution in rows],
                                   default=_isoformat, separators=(",", ":"))
                params = [given, *constants,
                          jobs.backend_alias, jobs.enqueued_at, jobs.backend_alias, jobs.enqueued_at]
                cursor.execute(sql, params)
                ids += [row[0] for row in cursor.fetchall()]
        return ids

    def dispatch_due(self, *, using: str, backend_alias: str, batch_size: int,
                     now: datetime.datetime) -> int:
        sql = DISPATCH_SQL.format(skip_locked=self._skip_locked(backend_alias), **_tables())
        connection = connections[using]
        with connection.cursor() as cursor:  # due rows in index order too, as a claim reads ready ones
            cursor.execute(_with_plan(connection, sql), [backend_alias, now, batch_size, backend_alias, now])
            while cursor.nextset():  # the INSERT's count is the last result's
                pass
            return cursor.rowcount


_INSERT_JOB_PIECES = ("job_table", "job_columns", "job_values", "execution_table", "execution_columns",
                      "execution_values")


@functools.lru_cache(maxsize=64)
def _insert_job_sql(pieces: tuple[str, ...], ready: tuple[str, ...]) -> str:
    # A few shapes only (ready or scheduled execution, the plugins' ready expressions): built once.
    return INSERT_JOB_SQL.format(**dict(zip(_INSERT_JOB_PIECES, pieces)), ready_sql="".join(f", ({expr})" for expr in ready))


def _isoformat(value: Any) -> str:
    """A row's ``scheduled_at`` in the JSON of a bulk enqueue; ``::timestamptz`` reads it back."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a bulk enqueue row")


def _one_statement_per_query(connection: Any) -> bool:
    """Server-side parameter binding allows one statement per query."""
    return connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is True


def _with_plan(connection: Any, sql: str) -> str:
    """``sql`` preceded by ``CLAIM_PLAN`` where a query may hold several statements.

    With server-side binding the claim goes alone and the planner uses the statistics it has
    (autovacuum's ANALYZE gives it the right ones once the table has held jobs).
    """
    return sql if _one_statement_per_query(connection) else CLAIM_PLAN + sql


# Planning a turn's two statements costs PostgreSQL ~0.3 ms each, on every turn: as much server
# time as running them. So on each connection they are PREPAREd once (SQL-level, which works with
# Django's client-side binding) and EXECUTEd after that, planned once, with the claim's plan
# settings. Not where a query holds one statement (server-side binding: psycopg prepares by
# itself) nor behind a pooler, where the next transaction may run on another server session.
# psycopg connection -> {sql: prepared name}, or None where statements are not prepared.
_prepared: weakref.WeakKeyDictionary[Any, dict[str, str] | None] = weakref.WeakKeyDictionary()
# psycopg connection -> {sql: times sent unprepared}, for an INSERT prepared only once reused.
_sent: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
# An enqueue's INSERT is prepared on a connection's third enqueue with the same columns (by
# psycopg, with server-side binding: see _bind_on_server).
PREPARE_INSERT_AFTER = 2
# The generic plan at once, built under CLAIM_PLAN's settings: a statement's first executions
# would otherwise each be planned again to compare custom plans with it.
PREPARED_PLAN = CLAIM_PLAN + "SET LOCAL plan_cache_mode = force_generic_plan;\n"


def _execute_planned(connection: Any, cursor: Any, statements: list[str], params: list, settings: str = "") -> None:
    """Run ``statements`` (``%s`` parameters, ``params`` in order) as one query, under the claim's
    plan settings and ``settings`` (``SET LOCAL`` statements; not where a query holds one statement).

    Where it can, as EXECUTEs of statements prepared on this connection; a statement the server
    no longer knows (``DEALLOCATE``/``DISCARD ALL`` ran) is prepared again, once. Only outside a
    caller's transaction can that retry happen (an error aborts the transaction).
    """
    for attempt in (1, 2):
        executes = _executes(connection, cursor, statements)
        if executes is None:
            cursor.execute(_with_plan(connection, settings + ";\n".join(statements)), params)
            return
        try:
            cursor.execute(PREPARED_PLAN + settings + ";\n".join(executes), params)
            return
        except DatabaseError as exc:
            if attempt == 2 or not _statement_lost(exc) or connection.in_atomic_block:
                raise
            _prepared.pop(connection.connection, None)  # prepare again


def _prepares(connection: Any, cursor: Any) -> bool:
    """Whether statements are prepared on this connection: not where a query holds one statement
    (server-side binding: psycopg prepares as its ``prepare_threshold`` says), nor behind a pooler."""
    raw = connection.connection
    if raw not in _prepared:
        _prepared[raw] = None if _one_statement_per_query(connection) or _behind_pooler(raw, cursor) else {}
    return _prepared[raw] is not None


def _executes(connection: Any, cursor: Any, statements: list[str]) -> list[str] | None:
    """``EXECUTE name(%s, ...)`` for each statement, preparing what this connection lacks; None
    (send them as they are) where statements are not prepared."""
    if not _prepares(connection, cursor):
        return None
    names = _prepared[connection.connection]
    executes = []
    for sql in statements:
        count = sql.count("%s")
        if sql not in names:
            name = "dj_queue_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
            pieces = sql.split("%s")
            numbered = pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))
            if _prepared_on_server(cursor, name):  # kept by the session when our record was dropped
                cursor.execute(f"DEALLOCATE {name}")
            cursor.execute(f"PREPARE {name} AS {numbered}")
            names[sql] = name
        executes.append(f"EXECUTE {names[sql]}({', '.join(['%s'] * count)})")
    return executes


def _prepares_insert(connection: Any, cursor: Any, sql: str) -> bool:
    """Whether this enqueue's INSERT is to be prepared: from the connection's
    ``PREPARE_INSERT_AFTER + 1``-th with these columns, never inside a caller's transaction (a
    statement the session lost would abort it) nor behind a pooler."""
    if connection.in_atomic_block:
        return False
    raw = connection.connection
    sent = _sent.setdefault(raw, {})
    times = sent.get(sql, 0)
    if times < PREPARE_INSERT_AFTER:  # preparing costs a pooler probe once, a Parse per statement
        sent[sql] = times + 1
        return False
    return _prepares(connection, cursor)


def _bind_on_server(cursor: Any, prepare: bool) -> None:
    """Make Django's cursor wrapper send its next statements with server-side binding, prepared
    (by psycopg, once per connection and statement) if ``prepare``.

    Django binds on the client by default: psycopg then quotes every parameter into the SQL text
    in Python, and the server parses that text every time. For an enqueue's ~28 parameters that
    cost more than the INSERT itself (through psycopg from one connection: 460 µs a statement
    bound on the client, 355 µs bound on the server and prepared, 294 µs for the raw 6-column
    INSERT of ``make bench``). The wrapper stays Django's: execute wrappers and query logging see it.
    """
    plain, prepared = _cursor_classes()
    cursor.cursor.close()
    cursor.cursor = (prepared if prepare else plain)(cursor.db.connection)


@functools.cache
def _cursor_classes() -> tuple[type, type]:
    import psycopg  # only here: the module loads without it

    class PreparingCursor(psycopg.Cursor):
        """Prepares each statement it runs (Django's wrapper cannot pass ``prepare=True``)."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any) -> Any:
            with _psycopg_prepares(self.connection):
                return super().execute(query, params, prepare=True if prepare is None else prepare, **kwargs)

    return psycopg.Cursor, PreparingCursor


@contextlib.contextmanager
def _psycopg_prepares(raw: Any) -> Iterator[None]:
    """Let psycopg prepare for the duration: Django turns its preparing off (``prepare_threshold``
    None unless the database's OPTIONS set it), and psycopg then ignores ``prepare=True`` too.
    No other statement is prepared meanwhile: the threshold is never reached."""
    threshold = raw.prepare_threshold
    if threshold is None:
        raw.prepare_threshold = sys.maxsize
    try:
        yield
    finally:
        raw.prepare_threshold = threshold


def _statement_lost(exc: Exception) -> bool:
    """invalid_sql_statement_name: the session dropped a statement we prepared (a pooler's reset,
    ``DEALLOCATE ALL`` or ``DISCARD ALL`` run by someone else)."""
    return getattr(exc.__cause__, "sqlstate", None) == "26000"


def _forget_prepared(connection: Any, cursor: Any) -> None:
    """Forget what this connection had prepared: psycopg clears its own record when it sees a
    ``DEALLOCATE ALL`` go by while it prepares, and the claim's statements are prepared again on
    their next use."""
    raw = connection.connection
    with connection.wrap_database_errors, _psycopg_prepares(raw):
        cursor.cursor.execute("DEALLOCATE ALL", prepare=False)
    _prepared.pop(raw, None)


def _prepared_on_server(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
    return cursor.fetchone() is not None


def _behind_pooler(raw: Any, cursor: Any) -> bool:
    """True when this connection reaches PostgreSQL through a pooler such as PgBouncer, which
    answers the startup with a made-up backend pid of its own."""
    cursor.execute("SELECT pg_backend_pid()")
    return cursor.fetchone()[0] != raw.info.backend_pid


def _skip_to_rows(cursor: Any) -> list[str]:
    """Move past the results of statements that return no rows (``SET``); the names of the
    columns of the first one that does."""
    while (names := _column_names(cursor)) is None and cursor.nextset():
        pass
    return names or []


def _column_names(cursor: Any) -> list[str] | None:
    """The current result's column names, or None for a statement that returns no rows.

    Read from libpq's result: ``cursor.description`` builds a ``Column`` object per column on
    every access, which on a worker's turn (some 20 columns) cost more than the names.
    """
    result = cursor.cursor.pgresult  # Django's CursorWrapper -> psycopg's cursor
    if result is None or not result.nfields:
        return None
    return [result.fname(i).decode() for i in range(result.nfields)]


def _jobs_from_rows(connection: Any, using: str, names: list[str], rows: list) -> list:
    """Build ``Job`` instances from raw ``RETURNING job.*`` rows (JSON columns arrive as text).

    The table's column order is not the model's (migrations add columns at the end) and
    ``Model.from_db`` takes a full row in the model's field order, so each row is reordered.
    """
    Job = model("Job")
    json_fields, attnames, order = _row_layout(tuple(names))
    ordered = []
    for row in rows:
        values = list(row)
        for i, convert in json_fields:
            values[i] = convert(values[i], None, connection)
        ordered.append([values[i] for i in order])
    return loaded(Job, using, attnames, ordered)


@functools.lru_cache(maxsize=16)
def _row_layout(names: tuple[str, ...]) -> tuple[list[tuple[int, Any]], list[str], list[int]]:
    """For rows with these columns: the JSON ones, the model's attnames, and where each one is."""
    fields = [model("Job")._meta.get_field(name) for name in names]
    json_fields = [(i, json_converter(field)) for i, field in enumerate(fields) if isinstance(field, JSONField)]
    position = {field.attname: i for i, field in enumerate(fields)}
    attnames = [field.attname for field in model("Job")._meta.concrete_fields if field.attname in position]
    return json_fields, attnames, [position[attname] for attname in attnames]


@hookimpl
def dj_queue_dialect(connection: Any) -> Dialect | None:
    """Answer for PostgreSQL connections only."""
    return PostgresDialect(connection) if connection.vendor == "postgresql" else None
