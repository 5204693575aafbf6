"""MySQL 8 / MariaDB 10.6+ dialect: SKIP LOCKED claims, deadlock-free deletes, JSON append.

Neither server has data-modifying CTEs, so a claim stays the core's few statements in one
transaction (lock, delete, insert, update, select). Two things differ from the ORM defaults:

- ``DELETE ... WHERE id IN (...)`` turns into a full table scan once the list is a large part of
  a small table (the tail of a queue), and a scanning DELETE waits on every row another claimer
  holds: two claimers deadlock. Deleting through a join that starts from the id list
  (``STRAIGHT_JOIN`` on ``JSON_TABLE``) always reads the table by primary key.
- ``worker_ids`` is appended in the UPDATE (``JSON_ARRAY_APPEND``), not read and written per job.

Needs no import of MySQLdb.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from django.db import connections

from dj_queue import hookimpl
from dj_queue.dialects import Dialect

DELETE_IDS_SQL = (
    "DELETE target FROM JSON_TABLE(%s, '$[*]' COLUMNS (id BIGINT PATH '$')) AS picked "
    "STRAIGHT_JOIN {table} AS target ON target.{pk} = picked.id"
)


class MySQLDialect(Dialect):
    """MySQL and MariaDB (Django reports both as vendor ``mysql``)."""

    vendor = "mysql"

    def delete_ids(self, using: str, model: Any, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        connection = connections[using]
        quote = connection.ops.quote_name
        sql = DELETE_IDS_SQL.format(table=quote(model._meta.db_table), pk=quote(model._meta.pk.column))
        with connection.cursor() as cursor:
            cursor.execute(sql, [json.dumps([int(pk) for pk in ids])])
            return cursor.rowcount

    def worker_id_appended(self, worker_id: str) -> Any:
        from django.db.models import F, Func, JSONField, Value

        return Func(F("worker_ids"), Value("$"), Value(worker_id), function="JSON_ARRAY_APPEND",
                    output_field=JSONField())


@hookimpl
def dj_queue_dialect(connection: Any) -> Dialect | None:
    """Answer for MySQL and MariaDB connections only."""
    return MySQLDialect(connection) if connection.vendor == "mysql" else None
