"""Database dialects: how one database vendor locks, claims, finishes and dispatches jobs.

Operations never branch on the vendor; they ask ``dj_queue.plugins.get_dialect(using)`` and call
these methods. ``Dialect`` implements everything with the ORM (a few statements in one
transaction); the plugins in ``dj_queue_plugins`` subclass it with vendor fast paths and
``GenericDialect`` is the fallback that answers for any other database.

A dialect is cached per database alias and shared by threads, while Django connections are
per thread: methods always use ``connections[using]``, never a stored connection, for queries.
Plugin modules import before Django's app registry is ready (a hook decorator in an app's module
can build the plugin manager early), so the models are looked up in the registry when needed
(``model("Job")``) instead of imported.
"""

from __future__ import annotations

import datetime
import weakref
from dataclasses import dataclass
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.db.models import QuerySet
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from dj_queue.config import DEFAULTS, cached_options
from dj_queue.exceptions import ConfigurationError

if TYPE_CHECKING:
    from dj_queue.models import Job
    from dj_queue.operations.selectors import Selector

def model(name: str) -> Any:
    """dj_queue's model class ``name`` from Django's app registry."""
    return apps.get_model("dj_queue", name)


def backend_option(alias: str, key: str) -> Any:
    """One validated option of the ``TASKS`` alias (cached in ``config``); defaults for unknown aliases."""
    try:
        return cached_options(alias)[key]
    except ConfigurationError:
        if alias in (getattr(settings, "TASKS", {}) or {}):
            raise  # a real misconfiguration, not a job left behind by a removed alias
        return DEFAULTS[key]


# The job columns a bulk enqueue fills row by row, in the order of ``NewJobs.rows``.
NEW_JOB_COLUMNS = ("queue_name", "task_path", "priority", "args", "kwargs", "scheduled_at", "concurrency_key")


@dataclass(frozen=True)
class NewJobs:
    """A bulk enqueue's jobs for ``Dialect.insert_jobs``, in enqueue order.

    ``rows`` hold the ``NEW_JOB_COLUMNS`` values of each job (``args`` and ``kwargs`` as JSON
    text); ``executions`` say where each job starts: ``"ready"``, ``"scheduled"`` or None (a
    concurrency gate places it afterwards). ``batches`` are the ``(start, stop)`` slices of
    ``rows`` each INSERT may take. ``headers`` (``dj_queue_enqueue_headers``) are the same for
    every job of the call, like ``backend_alias``.
    """

    backend_alias: str
    enqueued_at: datetime.datetime
    rows: list[tuple]
    executions: list[str | None]
    batches: list[tuple[int, int]]
    headers: dict[str, str] | None = None


def bulk_job_columns(connection: Any, jobs: NewJobs) -> tuple[list[str], list[Any]]:
    """Every job column a bulk INSERT writes (``NEW_JOB_COLUMNS`` first), and the database values
    of the others, the same in every row: ``backend_alias``, ``enqueued_at``, ``headers`` and the
    defaults."""
    Job = model("Job")
    columns = [Job._meta.get_field(name).column for name in NEW_JOB_COLUMNS]
    constants = []
    for field in Job._meta.concrete_fields:
        if field.primary_key or field.name in NEW_JOB_COLUMNS:
            continue
        value = {"backend_alias": jobs.backend_alias, "enqueued_at": jobs.enqueued_at,
                 "headers": jobs.headers}.get(field.name, field.get_default())
        columns.append(field.column)
        constants.append(field.get_db_prep_save(value, connection))
    return columns, constants


def bulk_row_params(connection: Any, jobs: NewJobs, start: int, stop: int, constants: list[Any]) -> list[Any]:
    """The parameters of rows ``start:stop`` for a multi-row VALUES in ``bulk_job_columns`` order."""
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for queue, path, priority, args, kwargs, scheduled_at, key in jobs.rows[start:stop]:
        params += (queue, path, priority, args, kwargs,
                   None if scheduled_at is None else adapt(scheduled_at), key, *constants)
    return params


class Dialect:
    """Generic behaviour on top of the ORM; vendor plugins override the parts that pay off."""

    vendor = "generic"
    # True when ``insert_job`` may write a new job in one round trip (PostgreSQL, MySQL; SQLite,
    # in process, with raw statements instead of the ORM's saves).
    inserts_jobs_in_one_round_trip = False

    def __init__(self, connection: Any) -> None:
        # Only for features and vendor: queries use the calling thread's connection.
        self.connection = connection

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.connection.alias!r}>"

    # --- building blocks ------------------------------------------------------------------

    def insert_job(self, *, using: str, job: Any, execution: Any,
                   ready_sql: Sequence[tuple[str, list]]) -> int | None:
        """Write a new ``job`` and its first ``execution`` in one round trip that also evaluates
        the ``ready_sql`` expressions (``dj_queue_jobs_ready_sql``); return the new job's id.

        Returns None, writing nothing, when the dialect cannot: the caller then saves both rows
        through the ORM.
        """
        return None

    def insert_jobs(self, *, using: str, jobs: NewJobs) -> list[int] | None:
        """Write the ``jobs`` of a bulk enqueue and their ready or scheduled executions, one
        statement (or one round trip) per batch, inside the caller's transaction; return the new
        job ids in the order of ``jobs.rows``.

        Returns None, writing nothing, when the dialect cannot: the caller then inserts through
        the ORM.
        """
        return None

    def write_transaction(self, using: str) -> AbstractContextManager:
        """Return a context manager around a read-then-write transaction."""
        return transaction.atomic(using=using)

    def lock(self, queryset: QuerySet, backend_alias: str, *, skip_locked: bool = True) -> QuerySet:
        """Lock the rows ``queryset`` reads, skipping rows other transactions hold when allowed."""
        features = self.connection.features
        if not features.has_select_for_update:
            return queryset  # e.g. SQLite: the write transaction itself serializes claimers
        if skip_locked and features.has_select_for_update_skip_locked and backend_option(
            backend_alias, "use_skip_locked"
        ):
            return queryset.select_for_update(skip_locked=True)
        return queryset.select_for_update()

    def worker_id_appended(self, worker_id: str) -> Any:
        """Return an expression for ``worker_ids`` with ``worker_id`` appended, or ``None``."""
        return None

    def delete_ids(self, using: str, model: Any, ids: Sequence[int]) -> int:
        """Delete rows of an execution ``model`` by primary key; return how many went."""
        return model.objects.using(using).filter(pk__in=ids).delete()[0]

    def delete_claim(self, using: str, job_id: int, process_id: int | None) -> int:
        """Delete the claim of ``job_id`` held by ``process_id``; return how many rows went."""
        return model("ClaimedExecution").objects.using(using).filter(job_id=job_id, process_id=process_id).delete()[0]

    @contextmanager
    def raw_transaction(self, using: str, begin: str = "BEGIN") -> Iterator[Any]:
        """Yield a cursor inside a transaction that ``begin`` opens and a plain COMMIT ends.

        For raw-SQL fast paths: Django's ``atomic`` toggles autocommit around the transaction,
        which costs round trips on a server. Only raw statements may run inside (the ORM would
        toggle autocommit itself). Inside an atomic block it is a savepoint of that block.
        """
        connection = connections[using]
        if connection.in_atomic_block or not connection.get_autocommit():
            with transaction.atomic(using=using), connection.cursor() as cursor:
                yield cursor
            return
        with connection.cursor() as cursor:
            cursor.execute(begin)
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                try:
                    cursor.execute("ROLLBACK")
                except DatabaseError:  # the connection is gone; the server rolled back
                    pass
                raise

    def outcomes_by_value(self, using: str, items: Sequence[tuple[int, Any]],
                          held: set[int]) -> dict[Any, list[int]]:
        """Group the held jobs of ``items`` by stored return value: equal outcomes share an UPDATE."""
        Job = model("Job")
        connection = connections[using]
        field = Job._meta.get_field("return_value")
        groups: dict[Any, list[int]] = {}
        for job_id, value in items:
            if job_id in held:
                groups.setdefault(field.get_db_prep_save(value, connection), []).append(job_id)
        return groups

    def jobs_from_rows(self, using: str, rows: Sequence[Sequence[Any]]) -> list[Job]:
        """Build ``Job`` instances from raw rows of every concrete column, in ``job_columns()`` order."""
        Job = model("Job")
        connection = connections[using]
        converters = _job_converters.get(connection)
        if converters is None:
            converters = _job_converters[connection] = _converters_for(connection, Job)
        values_list = []
        for row in rows:
            values = list(row)
            for i, funcs, col in converters:
                for func in funcs:
                    values[i] = func(values[i], col, connection)
            values_list.append(values)
        return loaded(Job, using, [field.attname for field in Job._meta.concrete_fields], values_list)

    # --- fast paths of the hot transitions ------------------------------------------------
    # Each returns None when the dialect has none: ``dj_queue.operations`` then runs the one
    # generic implementation of the transition. A fast path is vendor SQL for the same change
    # (same rows, same locking rules), never a different behaviour.

    def claim(self, *, using: str, backend_alias: str, selectors: Sequence[Selector], limit: int,
              process_id: int | None, worker_id: str, now: datetime.datetime) -> list[Job] | None:
        """Move up to ``limit`` ready jobs to claimed in one transaction; return them in order."""
        return None

    def claim_rows(self, *, using: str, backend_alias: str, selectors: Sequence[Selector], limit: int,
                   process_id: int | None, worker_id: str, now: datetime.datetime) -> list[Job] | None:
        """The statements of ``claim``, inside the caller's transaction."""
        return None

    def finish(self, *, using: str, job_id: int, process_id: int | None, return_value: Any,
               now: datetime.datetime) -> bool | None:
        """Delete the claim and record the outcome; ``False`` (nothing changed) if the claim is gone."""
        return None

    def finish_many(self, *, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                    now: datetime.datetime) -> list[int] | None:
        """Finish several jobs in one transaction; return the ids whose claim ``process_id`` held."""
        return None

    def finish_rows(self, *, using: str, items: Sequence[tuple[int, Any]], process_id: int | None,
                    now: datetime.datetime) -> list[int] | None:
        """The statements of ``finish_many``, inside the caller's transaction."""
        return None

    def finish_and_claim(self, *, using: str, backend_alias: str, items: Sequence[tuple[int, Any]],
                         selectors: Sequence[Selector], limit: int, process_id: int | None,
                         worker_id: str, now: datetime.datetime) -> tuple[list[int], list[Job]] | None:
        """``finish_many`` then ``claim`` in one transaction: one commit for a worker's whole turn."""
        return None

    def dispatch_due(self, *, using: str, backend_alias: str, batch_size: int,
                     now: datetime.datetime) -> int | None:
        """Move up to ``batch_size`` due scheduled jobs without a concurrency key to ready."""
        return None


def fills_directly(model_class: Any) -> bool:
    """Whether instances of ``model_class`` may be filled without ``Model.__init__``.

    ``__init__`` sends pre_init and post_init and sets each field's attribute; the queue's models
    have no field whose attribute does more than store the value (their one relation is set by
    its id, with the related object cached as its descriptor would), so without listeners filling
    ``__dict__`` makes the same instance several times faster: that counts on the enqueue path
    and on a worker's turn, once per job.
    """
    if not (pre_init.receivers or post_init.receivers):  # the usual case, without a lookup
        return True
    return not (pre_init.has_listeners(model_class) or post_init.has_listeners(model_class))


def loaded(model_class: Any, using: str, attnames: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """``model_class.from_db(using, attnames, row)`` for each row (values in the attnames' order,
    already converted), filled directly where ``fills_directly`` allows. Fields left out of
    ``attnames`` are deferred, as ``from_db`` leaves them."""
    if not fills_directly(model_class):
        return [model_class.from_db(using, attnames, list(row)) for row in rows]
    new = model_class.__new__
    instances = []
    for row in rows:
        instance = new(model_class)
        state = ModelState()
        state.adding, state.db = False, using
        instance.__dict__.update(zip(attnames, row), _state=state)
        instances.append(instance)
    return instances


# Per connection object (connections are per thread): the converters a raw Job row needs.
_job_converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def insert_parts(job: Any, execution: Any, connection: Any) -> dict[str, Any]:
    """What raw INSERTs of a new job and its first execution need, for a dialect's ``insert_job``.

    SQL pieces (``job_table``, ``job_columns``, ``job_values``, and the same for ``execution_``)
    and the parameters (``job_params``, ``execution_params``). The execution's columns start with
    its job column, whose value is left out: only the INSERT itself knows the new job id.
    """
    layouts = _insert_layouts.get(connection)
    if layouts is None:
        layouts = _insert_layouts[connection] = {}
    parts: dict[str, Any] = {}
    for name, obj in (("job", job), ("execution", execution)):
        layout = layouts.get(type(obj))
        if layout is None:
            layout = layouts[type(obj)] = _insert_layout(name, type(obj), connection)
        sql, fields, known = layout
        parts.update(sql)
        params = []
        for field, attname, pre_save in fields:
            value = pre_save(obj, True) if pre_save else getattr(obj, attname)
            if value is None:  # NULL for every field (JSONField too: JSON null needs Value(None))
                params.append(None)
            elif type(value) in _SCALARS:  # the same alias, queue, path, priority every time: converted once
                key = (attname, type(value), value)
                if key not in known:
                    if len(known) >= 1024:
                        known.clear()
                    known[key] = field.get_db_prep_save(value, connection)
                params.append(known[key])
            elif not value and type(value) in _EMPTY:  # a new job's worker_ids, errors, often its args
                key = (attname, type(value))
                if key not in known:  # from an empty value of its own: a wrapper (Jsonb) holds no job's list
                    known[key] = field.get_db_prep_save(type(value)(), connection)
                params.append(known[key])
            else:
                params.append(field.get_db_prep_save(value, connection))
        parts[f"{name}_params"] = params
    return parts


# Immutable values whose database form a field's conversion gives the same every time.
_SCALARS = frozenset((str, int, bool))
# Containers whose empty value's database form is likewise the same every time.
_EMPTY = frozenset((list, dict))


# Per connection object, then per model: the SQL pieces and fields of ``insert_parts``, and the
# converted scalars it has seen.
_insert_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _insert_layout(name: str, model_class: Any, connection: Any) -> tuple[dict[str, str], list[tuple], dict]:
    quote = connection.ops.quote_name
    skip = ("job",) if name == "execution" else ()
    fields = [f for f in model_class._meta.concrete_fields if not f.primary_key and f.name not in skip]
    columns = [quote(f.column) for f in fields]
    if skip:
        columns.insert(0, quote(model_class._meta.get_field("job").column))
    sql = {f"{name}_table": quote(model_class._meta.db_table), f"{name}_columns": ", ".join(columns),
           f"{name}_values": ", ".join(["%s"] * len(fields))}
    # pre_save only where a field overrides it (auto_now and the like); else the attribute is it.
    plain = models.Field.pre_save
    return sql, [(f, f.attname, None if type(f).pre_save is plain else f.pre_save) for f in fields], {}


def table_names(quote: str = "") -> dict[str, str]:
    """The queue tables raw SQL names: ``ready``, ``claimed``, ``job``, ``pause``, ``scheduled``,
    each wrapped in ``quote`` (a vendor's identifier quote character)."""
    tables = {"ready": "ReadyExecution", "claimed": "ClaimedExecution", "job": "Job", "pause": "Pause",
              "scheduled": "ScheduledExecution"}
    return {key: f"{quote}{model(name)._meta.db_table}{quote}" for key, name in tables.items()}


def job_columns() -> list[str]:
    """Every concrete column of ``Job``, in field order (what ``jobs_from_rows`` expects)."""
    return [field.column for field in model("Job")._meta.concrete_fields]


def _converters_for(connection: Any, model: Any) -> list[tuple[int, list, Any]]:
    found = []
    for i, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if isinstance(field, models.JSONField):
            funcs = [json_converter(field) if func == field.from_db_value else func for func in funcs]
        if funcs:
            found.append((i, funcs, col))
    return found


# The texts a new job's JSON columns hold (args, kwargs, worker_ids, errors, headers ...), with
# what each decodes to, made fresh every time: no row shares a mutable list or dict.
_PLAIN_JSON: dict[str, Callable[[], Any]] = {"[]": list, "{}": dict, "null": type(None)}


def json_converter(field: Any) -> Callable[[Any, Any, Any], Any]:
    """``field.from_db_value`` for a ``JSONField``, which makes ``[]``, ``{}`` and ``null`` without
    the JSON parser (most of a claimed job's seven JSON values, on every turn). A field with a
    decoder of its own keeps its converter: the decoder may make something else of them."""
    convert = field.from_db_value
    if field.decoder is not None:
        return convert

    def from_db_value(value: Any, expression: Any, connection: Any) -> Any:
        make = _PLAIN_JSON.get(value) if type(value) is str else None
        return make() if make is not None else convert(value, expression, connection)

    return from_db_value


class GenericDialect(Dialect):
    """The ORM fallback for databases no dialect plugin claims."""

    vendor = "generic"
