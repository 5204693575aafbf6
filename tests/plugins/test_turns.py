"""Raw-SQL worker turns of the MySQL and SQLite dialects (and the generic building blocks they use).

Each behaviour runs twice: inside a test transaction (the dialect nests in a savepoint) and in
autocommit (the dialect owns its transaction: MySQL's two-round-trip turn, SQLite's BEGIN IMMEDIATE).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dj_queue import plugins
from dj_queue.dialects import job_columns
from dj_queue.models import ClaimedExecution, Job, Pause, ReadyExecution
from dj_queue.operations.claim import run_turn
from dj_queue.operations.selectors import parse_selectors

TASK = "tests.tasks_app.tasks.add"
BOTH_MODES = pytest.mark.parametrize("own", [
    pytest.param(False, marks=pytest.mark.django_db, id="nested"),
    pytest.param(True, marks=pytest.mark.django_db(transaction=True), id="own-transaction"),
])


def ready(priority: int = 0, queue: str = "default", **fields) -> Job:
    job = Job.objects.create(task_path=TASK, queue_name=queue, priority=priority, **fields)
    ReadyExecution.objects.create(job=job, queue_name=queue, priority=priority)
    return job


def claimed(process_id: int | None = 1) -> Job:
    job = Job.objects.create(task_path=TASK, worker_ids=["old"])
    ClaimedExecution.objects.create(job=job, process_id=process_id)
    return job


def turn(items, limit: int = 4, selectors=("*",), process_id: int | None = 1, now=None):
    # The dialect's vendor turn where it has one, else the generic turn over its building blocks.
    return run_turn(
        plugins.get_dialect("default"), using="default", backend_alias="default", items=items,
        selectors=parse_selectors(list(selectors)),
        limit=limit, process_id=process_id, worker_id="w", now=now or timezone.now())


@BOTH_MODES
def test_a_turn_records_held_claims_only_and_claims_in_priority_order(own):
    mine, other, gone = claimed(), claimed(process_id=2), claimed()
    ClaimedExecution.objects.filter(job=gone).delete()  # e.g. recovery took it
    started = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=1)
    low, high, again = ready(0), ready(5), ready(5, started_at=started, worker_ids=["a"])
    now = timezone.now()
    done, jobs = turn([(mine.pk, {"k": [1]}), (other.pk, 5), (gone.pk, "x")], limit=2, now=now)
    assert done == [mine.pk]
    assert [job.pk for job in jobs] == [high.pk, again.pk]
    assert Job.objects.get(pk=mine.pk).return_value == {"k": [1]}
    assert Job.objects.filter(pk__in=[other.pk, gone.pk], finished_at__isnull=False).count() == 0
    assert set(ClaimedExecution.objects.values_list("job_id", "process_id")) == {
        (other.pk, 2), (high.pk, 1), (again.pk, 1)}
    assert list(ReadyExecution.objects.values_list("job_id", flat=True)) == [low.pk]
    for job in jobs:  # what the caller gets is what the database holds
        stored = Job.objects.get(pk=job.pk)
        assert (job.worker_ids, job.started_at, job.last_attempted_at) == (
            stored.worker_ids, stored.started_at, stored.last_attempted_at)
    assert jobs[1].worker_ids == ["a", "w"] and jobs[1].started_at == started
    assert jobs[0].worker_ids == ["w"] and jobs[0].started_at == now == jobs[0].last_attempted_at


@BOTH_MODES
@pytest.mark.parametrize("values", [[None, None], [7, 7], [None, [1, "two"]], ["text", {"a": None}]])
def test_outcomes_are_stored_per_job(own, values):
    jobs = [claimed(), claimed()]
    nxt = ready()
    done, taken = turn([(job.pk, value) for job, value in zip(jobs, values)])
    assert done == [job.pk for job in jobs] and [job.pk for job in taken] == [nxt.pk]
    stored = Job.objects.in_bulk([job.pk for job in jobs] + [nxt.pk])
    assert [stored[job.pk].return_value for job in jobs] == values
    assert all(stored[job.pk].finished_at is not None for job in jobs)
    assert stored[nxt.pk].finished_at is None and stored[nxt.pk].worker_ids == ["w"]


@BOTH_MODES
def test_a_turn_with_nothing_ready_still_records_outcomes(own):
    job = claimed()
    assert turn([(job.pk, 3)]) == ([job.pk], [])
    assert Job.objects.get(pk=job.pk).return_value == 3 and not ClaimedExecution.objects.exists()


@BOTH_MODES
def test_finish_many_skips_lost_claims(own):
    held, lost = claimed(), claimed(process_id=9)
    done = plugins.get_dialect("default").finish_many(
        using="default", items=[(held.pk, 1), (lost.pk, 2)], process_id=1, now=timezone.now())
    assert done == [held.pk]
    assert list(ClaimedExecution.objects.values_list("job_id", flat=True)) == [lost.pk]
    assert Job.objects.get(pk=lost.pk).return_value is None


@BOTH_MODES
def test_paused_queues_and_selector_order(own):
    Pause.objects.create(queue_name="paused")
    ready(9, queue="paused")
    later, first = ready(9, queue="b"), ready(0, queue="a")
    assert [job.pk for job in turn([], selectors=["a", "*"])[1]] == [first.pk, later.pk]


@pytest.mark.applies(settings.DB == "mysql", reason="MySQL multi-statement turn")
@pytest.mark.django_db(transaction=True)
def test_mysql_turn_is_two_round_trips():
    jobs = [claimed(), claimed()]
    ready(), ready()
    with CaptureQueriesContext(connection) as queries:
        done, taken = turn([(job.pk, None) for job in jobs])
    assert len(done) == 2 and len(taken) == 2
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert queries[0]["sql"].startswith("BEGIN") and queries[1]["sql"].endswith("COMMIT")


@pytest.mark.applies(settings.DB == "sqlite", reason="SQLite raw turn")
@pytest.mark.django_db(transaction=True)
def test_sqlite_turn_is_one_immediate_transaction_of_constant_statements():
    job = claimed()
    ready()
    with CaptureQueriesContext(connection) as queries:
        turn([(job.pk, None)])
    sql = [q["sql"] for q in queries]
    assert sql[0] == "BEGIN IMMEDIATE" and sql[-1] == "COMMIT" and len(sql) == 7, sql


@pytest.mark.applies(settings.DB == "sqlite", reason="SQLite's LIKE ignores case; prefixes must not")
@pytest.mark.django_db
def test_sqlite_prefix_selectors_are_exact():
    ready(queue="Mail"), ready(queue="maxl")
    wanted = {ready(queue="mail").pk, ready(queue="mailbox").pk}
    assert {job.pk for job in turn([], selectors=["mail*", "ma_l*"])[1]} == wanted


@pytest.mark.django_db(transaction=True)
def test_raw_transaction_commits_or_rolls_back_as_a_whole():
    dialect = plugins.get_dialect("default")
    table = connection.ops.quote_name(Pause._meta.db_table)
    insert = f"INSERT INTO {table} (backend_alias, queue_name, created_at) VALUES (%s, %s, %s)"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with dialect.raw_transaction("default") as cursor:
        cursor.execute(insert, ["default", "kept", now])
    with pytest.raises(ZeroDivisionError), dialect.raw_transaction("default") as cursor:
        cursor.execute(insert, ["default", "dropped", now])
        1 / 0
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), dialect.raw_transaction("default") as cursor:
            cursor.execute(insert, ["default", "savepoint", now])
            1 / 0
        assert connection.in_atomic_block and not connection.needs_rollback
    assert list(Pause.objects.values_list("queue_name", flat=True)) == ["kept"]
    assert connection.get_autocommit()


@pytest.mark.django_db
def test_jobs_from_rows_equals_the_orm():
    job = Job.objects.create(task_path=TASK, args=[1, {"a": "b"}], kwargs={"x": None}, return_value=[1],
                             started_at=timezone.now(), worker_ids=["w"], concurrency_key="k")
    columns = ", ".join(connection.ops.quote_name(column) for column in job_columns())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {Job._meta.db_table} WHERE id = %s", [job.pk])
        built, = plugins.get_dialect("default").jobs_from_rows("default", cursor.fetchall())
    loaded = Job.objects.get(pk=job.pk)
    fields = [field.attname for field in Job._meta.concrete_fields]
    assert [getattr(built, name) for name in fields] == [getattr(loaded, name) for name in fields]
    assert built._state.db == "default" and not built._state.adding
