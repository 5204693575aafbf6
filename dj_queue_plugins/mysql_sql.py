"""The MySQL / MariaDB dialect's SQL text and the small helpers that send it.

Split from ``dj_queue_plugins/mysql.py`` (the dialect itself) to keep both readable; not an
entry point. Needs no import of MySQLdb.
"""

from __future__ import annotations

import datetime
import functools
import json
import weakref
from typing import Any, Sequence

from django.db import DatabaseError, connections

from dj_queue.dialects import NewJobs, bulk_row_params, job_columns, table_names

MULTI_STATEMENTS = 1 << 16  # the client flag (CLIENT.MULTI_STATEMENTS)
PICKED = "JSON_TABLE(%s, '$[*]' COLUMNS (id BIGINT PATH '$')) AS picked"
DELETE_IDS_SQL = f"DELETE target FROM {PICKED} STRAIGHT_JOIN {{table}} AS target ON target.{{pk}} = picked.id"
# A single enqueue (``dialects.insert_parts`` fills it): the execution takes the new job's id.
INSERT_JOB_SQL = ("INSERT INTO {job_table} ({job_columns}) VALUES ({job_values});\n"
                  "INSERT INTO {execution_table} ({execution_columns}) VALUES (LAST_INSERT_ID(), {execution_values})")


# A bulk enqueue's executions (``bulk_execution_rows`` fills {rows}): ready, then scheduled.
READY_COLUMNS = "job_id, backend_alias, queue_name, priority, created_at"
SCHEDULED_COLUMNS = "job_id, backend_alias, queue_name, priority, scheduled_at, concurrency_key, created_at"
# innodb_autoinc_lock_mode values under which one multi-row INSERT takes consecutive ids
# ("traditional" and "consecutive"; "interleaved", MySQL 8's default, does not promise it).
CONSECUTIVE_LOCK_MODES = (0, 1)


@functools.lru_cache(maxsize=1)
def statements() -> dict[str, str]:
    names = table_names("`")
    columns = ", ".join(f"job.`{column}`" for column in job_columns())
    mine = f"{PICKED} STRAIGHT_JOIN {names['claimed']} AS target ON target.job_id = picked.id " \
           "WHERE target.process_id <=> %s"
    stamp = "started_at = COALESCE(started_at, %s), last_attempted_at = %s, " \
            "worker_ids = JSON_ARRAY_APPEND(worker_ids, '$', %s)"
    # {{...}} survive this format: filled per call
    return {
        "drop": f"DELETE target FROM {mine}",
        "held": f"SELECT target.job_id FROM {mine} FOR UPDATE",
        "outcome": "UPDATE {job} FORCE INDEX (PRIMARY) SET finished_at = %s, return_value = %s "
                   "WHERE id IN ({{ids}})".format(**names),
        "pick": "SELECT ready.id, {columns} FROM {ready} AS ready STRAIGHT_JOIN {job} AS job ON job.id = ready.job_id"
                " WHERE ready.backend_alias = %s{{selector}}"
                " AND ready.queue_name NOT IN (SELECT queue_name FROM {pause} WHERE backend_alias = %s)"
                " ORDER BY ready.priority DESC, ready.job_id LIMIT %s {{lock}}".format(columns=columns, **names),
        # The first pick of a turn: the first {candidates} ready rows by a plain read (a derived
        # table is not locked), then up to {limit} of them locked by primary key. Sorted on the
        # derived table's own columns, so the join reads them in claim order and stops at the
        # limit; each row comes with how many candidates there were. See _two_step_pick in mysql.py.
        "pick_candidates": "SELECT ready.id, cand.found, {columns} FROM (SELECT c.*, COUNT(*) OVER () AS found"
                           " FROM (SELECT ready.id, ready.priority, ready.job_id FROM {ready} AS ready"
                           " WHERE ready.backend_alias = %s{{selector}}"
                           " AND ready.queue_name NOT IN (SELECT queue_name FROM {pause} WHERE backend_alias = %s)"
                           " ORDER BY ready.priority DESC, ready.job_id LIMIT %s) AS c) AS cand"
                           " STRAIGHT_JOIN {ready} AS ready ON ready.id = cand.id"
                           " STRAIGHT_JOIN {job} AS job ON job.id = ready.job_id"
                           " ORDER BY cand.priority DESC, cand.job_id LIMIT %s {{lock}}".format(columns=columns, **names),
        "unready": DELETE_IDS_SQL.format(table=names["ready"], pk="id"),
        # VALUES, not INSERT ... SELECT: that would hold the table's AUTO-INC lock to its end
        "claim": f"INSERT INTO {names['claimed']} (job_id, backend_alias, process_id, created_at) VALUES {{rows}}",
        "attempt": f"UPDATE {names['job']} FORCE INDEX (PRIMARY) SET {stamp} WHERE id IN ({{ids}})",
        # one UPDATE for a turn's finished jobs (one shared outcome) and claimed jobs
        "both": "UPDATE {job} FORCE INDEX (PRIMARY) SET finished_at = IF(id IN ({{done}}), %s, finished_at), "
                "return_value = IF(id IN ({{done}}), %s, return_value), "
                "started_at = IF(id IN ({{done}}), started_at, COALESCE(started_at, %s)), "
                "last_attempted_at = IF(id IN ({{done}}), last_attempted_at, %s), "
                "worker_ids = IF(id IN ({{done}}), worker_ids, JSON_ARRAY_APPEND(worker_ids, '$', %s)) "
                "WHERE id IN ({{done}}, {{claimed}})".format(**names),
    }


def candidates_for(limit: int) -> int:
    """How many candidates the first pick of ``limit`` jobs reads: room for the rows other
    workers hold locked at that moment."""
    return 2 * limit + 16


def ids_json(ids: Sequence[int]) -> str:
    return json.dumps([int(pk) for pk in ids])


def inline_ids(ids: Sequence[int]) -> str:
    return ", ".join(str(int(pk)) for pk in ids)  # integers only: safe to inline


def owns_transaction(using: str) -> bool:
    connection = connections[using]
    return not connection.in_atomic_block and connection.get_autocommit()


def multi_statements(connection: Any) -> bool:
    """Whether the connection takes several statements per query (mysqlclient's default)."""
    connection.ensure_connection()
    return bool(getattr(connection.connection, "client_flag", 0) & MULTI_STATEMENTS)


def stamped(jobs: list, worker_id: str, now: datetime.datetime) -> list:
    """Set on the loaded jobs what the attempt UPDATE wrote."""
    for job in jobs:
        job.started_at = job.started_at or now
        job.last_attempted_at = now
        job.worker_ids = [*(job.worker_ids or []), worker_id]
    return jobs


def drain_results(cursor: Any) -> None:
    """Read every remaining result of a multi-statement query (a failed statement raises here)."""
    while cursor.nextset():
        pass


def rollback_quietly(cursor: Any) -> None:
    for step in (drain_results, lambda cursor: cursor.execute("ROLLBACK")):
        try:
            step(cursor)
        except Exception:  # the connection is gone; the server rolls back without us
            pass


def execution_row(kind: str, job_id_sql: str, row: tuple, shared: tuple[str, str], adapt: Any) -> tuple[str, list]:
    """One VALUES tuple of a new job's ``kind`` execution; ``job_id_sql`` is SQL for its job id and
    ``shared`` the SQL literals of the backend alias and creation time (``literals``)."""
    queue, _, priority, _, _, scheduled_at, key = row
    alias, created = shared
    if kind == "ready":
        return f"({job_id_sql}, {alias}, %s, %s, {created})", [queue, priority]
    return f"({job_id_sql}, {alias}, %s, %s, %s, %s, {created})", [queue, priority, adapt(scheduled_at), key]


def literals(cursor: Any, values: Sequence[Any]) -> list[str]:
    """``values`` as the SQL literals the driver would bind, ``%`` doubled for the query's own
    binding: values every row of a bulk enqueue shares are escaped once, not once per row."""
    return [cursor.mogrify("%s", [value]).replace("%", "%%") for value in values]


def job_row(cursor: Any, width: int, constants: list) -> str:
    """The VALUES tuple of a bulk enqueue's job: a placeholder per ``NEW_JOB_COLUMNS`` value, then
    the ``constants`` (``bulk_job_columns``) as literals; ``bulk_row_params`` with no constants
    gives its parameters."""
    return "(" + ", ".join(["%s"] * (width - len(constants)) + literals(cursor, constants)) + ")"


def shared_literals(cursor: Any, connection: Any, jobs: NewJobs) -> tuple[str, str]:
    return tuple(literals(cursor, [jobs.backend_alias, connection.ops.adapt_datetimefield_value(jobs.enqueued_at)]))


def execution_inserts(rows: list[tuple[str, list]], kind: str) -> tuple[str, list]:
    """One multi-row INSERT of ``kind`` executions from ``execution_row`` results."""
    names = table_names("`")
    columns = READY_COLUMNS if kind == "ready" else SCHEDULED_COLUMNS
    sql = f"INSERT INTO {names[kind]} ({columns}) VALUES " + ", ".join(values for values, _ in rows)
    return sql, [param for _, params in rows for param in params]


# Per connection object: whether one multi-row INSERT into the jobs table takes consecutive ids.
_consecutive: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def consecutive_ids(connection: Any) -> bool:
    """Whether a multi-row INSERT's ids are its first id, +1, +2 ...: InnoDB's AUTO-INC lock mode
    promises it for a single INSERT with a known row count in modes 0 and 1, and the increment is 1."""
    known = _consecutive.get(connection)
    if known is None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment")
                mode, step = cursor.fetchone()
        except DatabaseError:  # no InnoDB: no promise either
            mode, step = None, None
        known = mode in CONSECUTIVE_LOCK_MODES and step == 1
        _consecutive[connection] = known
    return known


def insert_numbered(cursor: Any, connection: Any, head: str, width: int, jobs: NewJobs, start: int, stop: int,
                    constants: list) -> list[int]:
    """Rows ``start:stop`` of a bulk enqueue as one multi-row INSERT and the executions' multi-row
    INSERTs, numbered from its first id (``consecutive_ids`` must hold); return the ids."""
    row = job_row(cursor, width, constants)
    statements = [(head + ", ".join([row] * (stop - start)), bulk_row_params(connection, jobs, start, stop, [])),
                  ("SET @dj_queue_first_job = LAST_INSERT_ID()", [])]
    adapt = connection.ops.adapt_datetimefield_value
    shared = shared_literals(cursor, connection, jobs)
    for kind in ("ready", "scheduled"):
        rows = [execution_row(kind, f"@dj_queue_first_job + {offset}", jobs.rows[index], shared, adapt)
                for offset, index in enumerate(range(start, stop)) if jobs.executions[index] == kind]
        if rows:
            statements.append(execution_inserts(rows, kind))
    cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
    first = cursor.lastrowid
    drain_results(cursor)
    return list(range(first, first + stop - start))


def insert_one_by_one(cursor: Any, connection: Any, head: str, width: int, jobs: NewJobs, start: int,
                      stop: int, constants: list) -> list[int]:
    """Rows ``start:stop`` of a bulk enqueue as an INSERT per job, each followed by its execution's
    (``LAST_INSERT_ID()``), in one multi-statement query; return the ids."""
    row = job_row(cursor, width, constants)
    adapt = connection.ops.adapt_datetimefield_value
    shared = shared_literals(cursor, connection, jobs)
    statements, is_job = [], []
    for index in range(start, stop):
        statements.append((head + row, bulk_row_params(connection, jobs, index, index + 1, [])))
        is_job.append(True)
        kind = jobs.executions[index]
        if kind is not None:
            values = execution_row(kind, "LAST_INSERT_ID()", jobs.rows[index], shared, adapt)
            statements.append(execution_inserts([values], kind))
            is_job.append(False)
    cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
    ids = []
    for position, job in enumerate(is_job):
        if position:
            cursor.nextset()
        if job:
            ids.append(cursor.lastrowid)
    drain_results(cursor)
    return ids
