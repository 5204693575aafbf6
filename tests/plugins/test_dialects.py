"""Dialect plugins: which one answers, their building blocks, and the generic ORM fallback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from dj_queue import plugins
from dj_queue.dialects import GenericDialect, backend_option
from dj_queue.models import ClaimedExecution, Job, ReadyExecution
from dj_queue.operations.claim import claim, mark_attempt
from dj_queue.operations.completion import finish
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.selectors import parse_selectors
from dj_queue_plugins import mysql, postgres, sqlite

EXPECTED = {"sqlite": sqlite.SQLiteDialect, "postgres": postgres.PostgresDialect, "mysql": mysql.MySQLDialect}


def test_the_vendor_plugin_answers_for_the_test_database():
    assert type(plugins.get_dialect("default")) is EXPECTED[settings.DB]


@pytest.mark.parametrize("module, vendor", [(postgres, "postgresql"), (mysql, "mysql"), (sqlite, "sqlite")])
def test_each_plugin_answers_only_for_its_vendor(module, vendor):
    for other in ("postgresql", "mysql", "sqlite", "oracle"):
        answer = module.dj_queue_dialect(connection=SimpleNamespace(vendor=other, alias="x"))
        assert (answer is not None) == (other == vendor)


def test_plugins_import_without_database_drivers_or_django_setup():
    code = (
        "import sys; sys.modules['psycopg'] = sys.modules['psycopg2'] = sys.modules['MySQLdb'] = None\n"
        "import dj_queue.dialects, dj_queue_plugins.postgres, dj_queue_plugins.mysql\n"
        "import dj_queue_plugins.sqlite\n"
        "print('ok')"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def make_job(**fields) -> Job:
    return Job.objects.create(task_path="tests.tasks_app.tasks.add", **fields)


@pytest.mark.django_db
@pytest.mark.parametrize("dialect_of", [plugins.get_dialect, lambda using: GenericDialect(connection)])
def test_mark_attempt_appends_worker_id_and_keeps_started_at(dialect_of):
    started = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=1)
    again, fresh = make_job(worker_ids=["a"], started_at=started), make_job()
    now = timezone.now()
    mark_attempt(dialect_of("default"), "default", [again.pk, fresh.pk], "b", now)
    again.refresh_from_db()
    fresh.refresh_from_db()
    assert again.worker_ids == ["a", "b"] and fresh.worker_ids == ["b"]
    assert again.started_at == started and fresh.started_at == now == fresh.last_attempted_at


@pytest.fixture
def generic(monkeypatch):
    """Every operation sees the generic dialect: the transitions without any vendor fast path."""
    dialect = GenericDialect(connection)
    monkeypatch.setattr(plugins, "get_dialect", lambda using="default": dialect)
    return dialect


@pytest.mark.django_db
def test_the_generic_dialect_has_no_fast_paths():
    dialect, now = GenericDialect(connection), timezone.now()
    common = {"using": "default", "backend_alias": "default", "selectors": parse_selectors(["*"]), "limit": 1,
              "process_id": 1, "worker_id": "w", "now": now}
    assert dialect.claim(**common) is None and dialect.claim_rows(**common) is None
    assert dialect.finish_and_claim(items=[], **common) is None
    assert dialect.finish(using="default", job_id=1, process_id=1, return_value=1, now=now) is None
    assert dialect.finish_rows(using="default", items=[(1, 1)], process_id=1, now=now) is None
    assert dialect.dispatch_due(using="default", backend_alias="default", batch_size=1, now=now) is None


@pytest.mark.django_db
def test_generic_transitions_claim_on_any_database(generic):
    jobs = [make_job(priority=p) for p in (0, 5)]
    for job in jobs:
        ReadyExecution.objects.create(job=job, queue_name="default", priority=job.priority)
    claimed = claim(using="default", backend_alias="default", selectors=["*"], limit=5, process_id=3, worker_id="w")
    assert [job.pk for job in claimed] == [jobs[1].pk, jobs[0].pk]
    assert [job.worker_ids for job in claimed] == [["w"], ["w"]]
    assert set(ClaimedExecution.objects.values_list("process_id", flat=True)) == {3}


@pytest.mark.django_db
def test_generic_transitions_finish_and_dispatch(generic):
    job = make_job()
    ClaimedExecution.objects.create(job=job, process_id=1)
    assert not finish(job, 1, process_id=2, using="default")
    assert finish(job, {"k": 1}, process_id=1, using="default")
    assert Job.objects.get(pk=job.pk).return_value == {"k": 1}
    assert dispatch_due(backend_alias="default", using="default", batch_size=5) == 0


@pytest.mark.django_db
def test_lock_honours_use_skip_locked():
    dialect = plugins.get_dialect("default")
    rows = ReadyExecution.objects.all()
    if not connection.features.has_select_for_update:
        assert dialect.lock(rows, "default") is rows
        return
    assert dialect.lock(rows, "default").query.select_for_update_skip_locked == (
        connection.features.has_select_for_update_skip_locked)
    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "OPTIONS": {"use_skip_locked": False}}}
    with override_settings(TASKS=tasks):
        locked = dialect.lock(rows, "default").query
        assert locked.select_for_update and not locked.select_for_update_skip_locked


def test_backend_option_is_cached_and_follows_settings_changes():
    assert backend_option("default", "preserve_finished_jobs") is True
    assert backend_option("no-such-alias", "shutdown_timeout") == 5  # a removed alias's jobs
    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "OPTIONS": {"shutdown_timeout": 9}}}
    with override_settings(TASKS=tasks):
        assert backend_option("default", "shutdown_timeout") == 9
    assert backend_option("default", "shutdown_timeout") == 5


sqlite_only = pytest.mark.applies(settings.DB == "sqlite", reason="SQLite connection settings")


@sqlite_only
@pytest.mark.django_db
def test_sqlite_connections_use_wal_busy_timeout_and_normal_sync():
    with connection.cursor() as cursor:
        values = []
        for pragma in ("journal_mode", "busy_timeout", "synchronous"):
            cursor.execute(f"PRAGMA {pragma}")
            values.append(cursor.fetchone()[0])
    assert values[0] == "wal" and values[1] >= sqlite.BUSY_TIMEOUT_MS and values[2] == 1  # NORMAL


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_sqlite_write_transaction_takes_the_write_lock_at_once():
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        with plugins.get_dialect("default").write_transaction("default"):
            assert connection.in_atomic_block
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
        assert connection.transaction_mode is None  # the settings' mode is restored
        with transaction.atomic(), plugins.get_dialect("default").write_transaction("default"):
            assert connection.in_atomic_block  # nests inside an outer transaction
    finally:
        other.close()


@pytest.mark.applies(settings.DB == "postgres", reason="PostgreSQL single-statement paths")
@pytest.mark.django_db
def test_postgres_claims_finishes_and_dispatches_in_one_statement_each():
    from django.test.utils import CaptureQueriesContext

    from dj_queue.operations.claim import claim
    from dj_queue.operations.completion import finish
    from dj_queue.operations.dispatch import dispatch_due

    # A connection prepares a claim statement the first time it sends it (more queries, once):
    # done here on the empty queue, so the count below does not depend on the tests run before.
    assert claim(backend_alias="default", using="default", selectors=["*"], limit=2, process_id=1, worker_id="w") == []
    jobs = [make_job(), make_job()]
    for job in jobs:
        ReadyExecution.objects.create(job=job, queue_name="default")
    with CaptureQueriesContext(connection) as queries:
        claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=2,
                        process_id=1, worker_id="w")
        assert finish(claimed[0], 1, process_id=1, using="default")
    assert len(claimed) == 2 and len(queries) == 2, [q["sql"] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        assert dispatch_due(backend_alias="default", using="default") == 0
    # one statement for plain jobs, one look for due jobs that need a concurrency slot
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2, statements
