"""The PostgreSQL claim reads about what it takes, also while a queue drains.

Deleted ready rows stay in the indexes until vacuum, and a table without column statistics
(new, truncated, or last analyzed while empty) makes PostgreSQL guess that few rows match: it
then read every ready row and sorted them for each claim (~600 rows per job with 5,000 waiting).
These tests run the claim under ``EXPLAIN ANALYZE`` in that state and look at its plan.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dj_queue import plugins
from dj_queue.models import Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.selectors import parse_selectors
from dj_queue_plugins import postgres

pytestmark = [pytest.mark.applies(settings.DB == "postgres", reason="PostgreSQL claim plans"),
              pytest.mark.django_db(transaction=True)]

WAITING = 3000
DRAINED = 1500
LIMIT = 4


def draining_queue() -> None:
    """``WAITING`` ready jobs of which the first ``DRAINED`` (claim order) were just deleted."""
    jobs = Job.objects.bulk_create(
        Job(task_path="tests.tasks_app.tasks.add", queue_name="bench", priority=i % 3) for i in range(WAITING))
    ReadyExecution.objects.bulk_create(
        ReadyExecution(job=job, queue_name=job.queue_name, priority=job.priority) for job in jobs)
    first = ReadyExecution.objects.order_by("-priority", "job_id").values_list("id", flat=True)[:DRAINED]
    ReadyExecution.objects.filter(id__in=list(first)).delete()  # dead index entries, no vacuum


def claim_plan(selector: str) -> dict:
    """The executed plan of one claim of ``LIMIT`` jobs, as the dialect sends it (rolled back)."""
    dialect = plugins.get_dialect("default")
    sql, params = dialect._claim_sql("default", parse_selectors([selector])[0], LIMIT, 1, "w", timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(postgres.CLAIM_PLAN)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


@pytest.mark.parametrize("selector", ["*", "bench"])
def test_the_claim_walks_its_index_in_order_and_stops_at_the_limit(selector):
    draining_queue()
    picked = [node for node in nodes(claim_plan(selector)) if node.get("Subplan Name") == "CTE picked"]
    plan = nodes(picked[0])  # the CTE that locks the ready rows; the rest works on what it took
    assert not [node for node in plan if node["Node Type"] in ("Sort", "Incremental Sort")], plan
    scans = [node for node in plan if node.get("Relation Name") == "dj_queue_ready_execution"
             and "Scan" in node["Node Type"]]
    assert [scan["Node Type"] for scan in scans] == ["Index Scan"], scans
    assert scans[0]["Index Name"] in ("dj_queue_ready_all", "dj_queue_ready_claim"), scans
    # It returned the rows it took, not the 1,500 live ones a scan-and-sort would read.
    assert scans[0]["Actual Rows"] + scans[0].get("Rows Removed by Filter", 0) <= LIMIT, scans


def test_the_claim_still_takes_jobs_in_order():
    draining_queue()
    expected = list(ReadyExecution.objects.order_by("-priority", "job_id").values_list("job_id", flat=True)[:LIMIT])
    dialect = plugins.get_dialect("default")
    jobs = dialect.claim(using="default", backend_alias="default", selectors=parse_selectors(["*"]), limit=LIMIT,
                         process_id=1, worker_id="w", now=timezone.now())
    assert [job.pk for job in jobs] == expected
    with connection.cursor() as cursor:  # SET LOCAL ended with the claim's implicit transaction
        cursor.execute("SELECT current_setting('enable_sort')")
        assert cursor.fetchone()[0] == "on"


def test_the_dispatch_walks_the_due_index_in_order():
    now = timezone.now()
    jobs = Job.objects.bulk_create(Job(task_path="tests.tasks_app.tasks.add") for _ in range(WAITING))
    ScheduledExecution.objects.bulk_create(
        ScheduledExecution(job=job, queue_name="default", scheduled_at=now - timezone.timedelta(seconds=i))
        for i, job in enumerate(jobs))
    sql = postgres.DISPATCH_SQL.format(skip_locked=" SKIP LOCKED", **postgres._tables())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(postgres.CLAIM_PLAN)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", ["default", now, LIMIT, "default", now])
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    assert not [node for node in plan if node["Node Type"] in ("Sort", "Incremental Sort")], plan
    due = [node for node in plan if node.get("Index Name") == "dj_queue_scheduled_due"]
    assert len(due) == 1 and due[0]["Actual Rows"] <= LIMIT, plan
    assert plugins.get_dialect("default").dispatch_due(using="default", backend_alias="default", batch_size=LIMIT,
                                                       now=now) == LIMIT


def test_claimed_jobs_carry_their_own_columns_whatever_the_table_column_order():
    # Columns added by later migrations sit at the end of the table, not where the model has them.
    job = Job.objects.create(task_path="tests.tasks_app.tasks.add", errors=[{"message": "one"}], crashes=2)
    ReadyExecution.objects.create(job=job, queue_name=job.queue_name)
    dialect = plugins.get_dialect("default")
    [claimed] = dialect.claim(using="default", backend_alias="default", selectors=parse_selectors(["*"]),
                              limit=1, process_id=1, worker_id="w", now=timezone.now())
    assert (claimed.errors, claimed.crashes, claimed.cancel_requested_at) == ([{"message": "one"}], 2, None)
    assert claimed.worker_ids == ["w"] and claimed.started_at is not None


# --- prepared statements: each connection plans the turn's statements once ----------------------

def server_side_binding() -> bool:
    return connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is True


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'dj_queue_%%'")
        return {row[0] for row in cursor.fetchall()}


def claim(limit: int = LIMIT) -> list:
    return plugins.get_dialect("default").claim(
        using="default", backend_alias="default", selectors=parse_selectors(["*"]), limit=limit, process_id=1,
        worker_id="w", now=timezone.now())


@pytest.mark.applies(settings.DB == "postgres" and not server_side_binding(),
                     reason="PostgreSQL without server-side binding (with it psycopg prepares by itself)")
@pytest.mark.parametrize("selector", ["*", "bench", "ben*"])
def test_the_prepared_claim_has_a_generic_plan_that_walks_the_index_and_stops_at_the_limit(selector):
    # A generic plan knows no parameter values: with LIMIT as a parameter it planned for 10% of
    # the table (hash joins over whole tables, ~12 ms a claim). The limit is part of the statement.
    draining_queue()
    dialect = plugins.get_dialect("default")
    sql, params = dialect._claim_sql("default", parse_selectors([selector])[0], LIMIT, 1, "w", timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        [execute] = postgres._executes(connection, cursor, [sql])
        cursor.execute(postgres.PREPARED_PLAN)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {execute}", params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    assert not [node for node in plan if node["Node Type"] in ("Sort", "Incremental Sort", "Hash Join", "Seq Scan")
                and node.get("Relation Name") != "dj_queue_pause"], plan
    ready = [node for node in plan if node.get("Relation Name") == "dj_queue_ready_execution" and "Scan" in node["Node Type"]]
    assert ready and all(node["Actual Rows"] + node.get("Rows Removed by Filter", 0) <= LIMIT for node in ready), ready


@pytest.mark.applies(settings.DB == "postgres" and not server_side_binding(),
                     reason="PostgreSQL without server-side binding (with it psycopg prepares by itself)")
def test_claims_prepare_their_statement_once_per_connection_and_again_after_deallocate():
    draining_queue()
    before = list(ReadyExecution.objects.order_by("-priority", "job_id").values_list("job_id", flat=True)[:3 * LIMIT])
    first = claim()
    names = prepared_names()
    assert len(names) == 1
    second = claim()
    assert prepared_names() == names  # executed again, not prepared again
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's server_reset_query or DISCARD ALL does
    third = claim()
    assert prepared_names() == names
    assert [job.pk for job in first + second + third] == before


def test_statements_are_not_prepared_behind_a_pooler_or_with_server_side_binding(monkeypatch):
    monkeypatch.setattr(postgres, "_behind_pooler", lambda raw, cursor: True)
    draining_queue()
    connection.close()  # a new session, asked afresh whether it goes through a pooler
    assert len(claim()) == LIMIT
    assert prepared_names() == set()


def prepared_inserts() -> list[str]:
    """The enqueue INSERTs prepared in this session (psycopg names them ``_pg3_<n>``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%%INSERT INTO \"dj_queue_job\"%%"])
        return [row[0] for row in cursor.fetchall()]


def deallocate_all() -> None:
    """What a pooler's server_reset_query or a ``DISCARD ALL`` does, unseen by psycopg."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")


@pytest.mark.applies(settings.DB == "postgres" and not server_side_binding(),
                     reason="PostgreSQL without server-side binding (with it psycopg prepares by itself)")
def test_a_connection_prepares_its_enqueue_insert_once_reused_and_never_inside_a_transaction():
    from tests.tasks_app.tasks import add

    connection.close()  # a new session: nothing sent, nothing prepared yet
    ids = [add.enqueue(i, 1).id for i in range(postgres.PREPARE_INSERT_AFTER)]
    assert prepared_inserts() == []  # a connection that enqueues once or twice pays no Parse
    ids += [add.enqueue(2, 1).id, add.enqueue(3, 1).id]
    assert len(prepared_inserts()) == 1  # prepared by the first of them, reused by the second
    assert connection.connection.prepare_threshold is None  # Django's setting, left as it was
    deallocate_all()
    ids.append(add.enqueue(4, 1).id)  # the lost statement: sent unprepared, nothing left behind
    assert prepared_inserts() == []
    ids.append(add.enqueue(5, 1).id)  # prepared again
    assert len(prepared_inserts()) == 1
    with transaction.atomic():  # inside a caller's transaction the INSERT is not prepared
        deallocate_all()
        ids.append(add.enqueue(6, 1).id)
        assert prepared_inserts() == []
    ids += [add.enqueue(7, 1).id, add.enqueue(8, 1).id]  # outside again: lost, then prepared again
    assert len(prepared_inserts()) == 1
    jobs = Job.objects.filter(id__in=[int(i) for i in ids]).order_by("id")
    assert [job.args for job in jobs] == [[n, 1] for n in range(9)]
    assert ReadyExecution.objects.filter(job__in=jobs).count() == 9

