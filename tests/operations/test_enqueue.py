"""The enqueue operations: rows written, statements sent, wakeups after commit."""

from __future__ import annotations

from datetime import timedelta

import math

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import dj_queue
from dj_queue import plugins, wakeup
from dj_queue.concurrency import Concurrency
from dj_queue.dialects import Dialect
from dj_queue.models import BlockedExecution, Job, ReadyExecution, ScheduledExecution
from dj_queue.operations import enqueue as enqueue_ops
from dj_queue.operations.enqueue import BATCH_SIZE, JobSpec, batch_size, enqueue_job, enqueue_jobs

ADD = "tests.tasks_app.tasks.add"
pytestmark = pytest.mark.django_db


def one(**overrides) -> Job:
    fields = {"backend_alias": "default", "using": "default", "task_path": ADD, "queue_name": "q",
              "priority": 3, "args": [1, 2], "kwargs": {"k": 1}}
    return enqueue_job(**{**fields, **overrides})


@pytest.fixture
def notified(monkeypatch):
    calls = []
    monkeypatch.setattr(wakeup, "notify_enqueued", lambda alias, names: calls.append((alias, set(names))))
    return calls


def test_enqueue_job_writes_the_job_and_its_ready_execution():
    job = one()
    stored = Job.objects.get(pk=job.pk)
    assert (stored.task_path, stored.queue_name, stored.priority) == (ADD, "q", 3)
    assert (stored.args, stored.kwargs, stored.scheduled_at) == ([1, 2], {"k": 1}, None)
    ready = ReadyExecution.objects.get(job=job)
    assert (ready.queue_name, ready.priority, ready.backend_alias) == ("q", 3, "default")
    assert ready.created_at == stored.enqueued_at


def test_enqueues_with_and_without_arguments_store_each_their_own(notified):
    # Empty lists and dicts are converted once per connection (dialects.insert_parts): the rows
    # still get exactly what each job holds, before and after a job with arguments.
    jobs = [one(args=[], kwargs={}), one(args=[], kwargs={}), one(args=[3, {"b": 1, "a": 2}], kwargs={"z": []}),
            one(args=[], kwargs={}), one(args=[[]], kwargs={"e": {}})]
    stored = {row.pk: row for row in Job.objects.filter(pk__in=[job.pk for job in jobs])}
    assert [(stored[job.pk].args, stored[job.pk].kwargs) for job in jobs] == [
        ([], {}), ([], {}), ([3, {"b": 1, "a": 2}], {"z": []}), ([], {}), ([[]], {"e": {}})]
    assert all(stored[job.pk].worker_ids == [] and stored[job.pk].errors == [] for job in jobs)
    jobs[0].args.append("mutated after the enqueue")
    assert one(args=[], kwargs={}).args == [] and Job.objects.latest("pk").args == []


@pytest.mark.applies(settings.DB != "postgres", reason="PostgreSQL enqueues in one statement (below)")
def test_enqueue_job_is_two_inserts_and_nothing_else():
    with CaptureQueriesContext(connection) as queries:
        one()
    sent = "\n".join(q["sql"] for q in queries).upper()
    assert sent.count("INSERT INTO") == 2
    assert "SAVEPOINT" not in sent and "SELECT" not in sent


@pytest.mark.applies(settings.DB == "mysql", reason="the multi-statement enqueue is MySQL's")
@pytest.mark.django_db(transaction=True)
def test_on_mysql_an_enqueue_is_one_round_trip_with_its_own_transaction(notified):
    with CaptureQueriesContext(connection) as queries:
        job = one()
    assert len(queries) == 1
    assert [part.split()[0] for part in queries[0]["sql"].split(";\n")] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    assert ReadyExecution.objects.get(job_id=job.pk).job.args == [1, 2]
    assert notified == [("default", {"q"})]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        inside = one(run_after=timezone.now() + timedelta(hours=1))
    ours = [q["sql"] for q in queries if "INSERT INTO" in q["sql"]]
    assert len(ours) == 1 and ours[0].startswith("INSERT")  # no BEGIN of its own: the caller's transaction
    assert ScheduledExecution.objects.get(job_id=inside.pk).scheduled_at == inside.scheduled_at
    with pytest.raises(RuntimeError), transaction.atomic():
        lost = one()
        raise RuntimeError("rollback")
    assert not Job.objects.filter(pk=lost.pk).exists()
    with pytest.raises(DatabaseError):
        one(priority=1000)  # the job INSERT fails: nothing is left behind, the connection still works
    assert Job.objects.count() == 2 and ReadyExecution.objects.count() == 1


@pytest.mark.applies(settings.DB == "sqlite", reason="the raw-statement enqueue is SQLite's")
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_an_enqueue_is_two_raw_statements_in_its_own_transaction(notified):
    with CaptureQueriesContext(connection) as queries:
        job = one()
    assert [q["sql"].split()[0] for q in queries] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    assert queries[1]["sql"].endswith("RETURNING id")
    stored = Job.objects.get(pk=job.pk)
    assert (stored.args, stored.kwargs, stored.worker_ids, stored.enqueued_at) == ([1, 2], {"k": 1}, [], job.enqueued_at)
    assert ReadyExecution.objects.get(job_id=job.pk).created_at == job.enqueued_at
    assert notified == [("default", {"q"})]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        inside = one(run_after=timezone.now() + timedelta(hours=1))
    assert [q["sql"].split()[0] for q in queries][1:-1] == ["INSERT", "INSERT"]  # the caller's transaction only
    assert ScheduledExecution.objects.get(job_id=inside.pk).scheduled_at == inside.scheduled_at
    with pytest.raises(DatabaseError):
        one(priority=1000)  # the job INSERT fails: nothing is left behind, the connection still works
    assert Job.objects.count() == 2 and ReadyExecution.objects.count() == 1


@pytest.mark.applies(settings.DB == "postgres", reason="the one-statement enqueue is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_on_postgres_an_enqueue_is_one_statement_carrying_its_notify(notified):
    with CaptureQueriesContext(connection) as queries:
        job = one()
    assert len(queries) == 1, [q["sql"] for q in queries]  # no BEGIN or COMMIT either: autocommit
    assert "pg_notify" in queries[0]["sql"]
    stored = Job.objects.get(pk=job.pk)
    assert (stored.args, stored.kwargs, stored.worker_ids, stored.enqueued_at) == ([1, 2], {"k": 1}, [], job.enqueued_at)
    assert ReadyExecution.objects.get(job_id=job.pk).created_at == job.enqueued_at
    assert notified == [("default", {"q"})]
    later = one(run_after=timezone.now() + timedelta(hours=1))
    assert ScheduledExecution.objects.get(job_id=later.pk).scheduled_at == later.scheduled_at
    assert notified == [("default", {"q"})]  # a scheduled job wakes nobody


@pytest.mark.applies(settings.DB == "postgres", reason="the one-statement enqueue is PostgreSQL's")
def test_a_jobs_ready_plugin_without_sql_companion_gets_the_usual_transaction():
    calls = []

    class Direct:
        @dj_queue.hookimpl
        def dj_queue_jobs_ready(self, backend_alias, using, queue_names):
            calls.append(connection.in_atomic_block)

    plugin = Direct()
    plugins.register(plugin, name="test-direct-jobs-ready")
    try:
        with CaptureQueriesContext(connection) as queries:
            one()
    finally:
        plugins.get_plugin_manager().unregister(plugin)
    assert calls == [True]
    assert [q["sql"].split()[0].upper() for q in queries].count("INSERT") == 2


def test_a_future_run_after_goes_to_scheduled_executions():
    run_after = timezone.now() + timedelta(minutes=5)
    job = one(run_after=run_after, backend_alias="b2")
    scheduled = ScheduledExecution.objects.get(job=job)
    assert (scheduled.scheduled_at, scheduled.queue_name, scheduled.backend_alias) == (run_after, "q", "b2")
    assert Job.objects.get(pk=job.pk).scheduled_at == run_after
    assert not ReadyExecution.objects.filter(job=job).exists()


def test_a_past_run_after_is_ready_and_kept_on_the_job():
    run_after = timezone.now() - timedelta(minutes=5)
    job = one(run_after=run_after)
    assert ReadyExecution.objects.filter(job=job).exists()
    assert Job.objects.get(pk=job.pk).scheduled_at == run_after


@pytest.mark.django_db(transaction=True)
def test_ready_jobs_wake_workers_after_commit_only(notified):
    with transaction.atomic():
        one(queue_name="emails")
        assert notified == []
    assert notified == [("default", {"emails"})]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_enqueue_wakes_nobody_and_leaves_nothing(notified):
    with pytest.raises(RuntimeError), transaction.atomic():
        one()
        raise RuntimeError("rollback")
    assert notified == [] and not Job.objects.exists()


def test_scheduled_jobs_do_not_wake_workers(notified, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        one(run_after=timezone.now() + timedelta(hours=1))
    assert notified == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_wakeup_does_not_fail_the_enqueue(monkeypatch):
    def broken(alias, names):
        raise RuntimeError("listener down")

    monkeypatch.setattr(wakeup, "notify_enqueued", broken)
    job = one()  # autocommit: the wakeup runs (and fails) inside this call
    assert Job.objects.filter(pk=job.pk).exists()


def test_enqueue_jobs_inserts_jobs_and_executions_in_bulk(notified, django_capture_on_commit_callbacks):
    later = timezone.now() + timedelta(hours=1)
    specs = [JobSpec(ADD, "a", 1, [1], {}), JobSpec(ADD, "b", -5, [2], {"x": 1}), JobSpec(ADD, "c", 0, [], {}, later)]
    with django_capture_on_commit_callbacks(execute=True):
        jobs = enqueue_jobs(specs, backend_alias="default", using="default")
    assert all(job.pk for job in jobs)
    assert [Job.objects.get(pk=j.pk).args for j in jobs] == [[1], [2], []]
    ready = {r.job_id: (r.queue_name, r.priority) for r in ReadyExecution.objects.all()}
    assert ready == {jobs[0].pk: ("a", 1), jobs[1].pk: ("b", -5)}
    assert ScheduledExecution.objects.get().job_id == jobs[2].pk
    assert notified == [("default", {"a", "b"})]


def test_enqueue_jobs_of_nothing_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert enqueue_jobs([], backend_alias="default", using="default") == []
    assert len(queries) == 0


def test_enqueue_jobs_without_returned_ids_falls_back_to_single_inserts(monkeypatch):
    monkeypatch.setattr(type(plugins.get_dialect("default")), "insert_jobs", Dialect.insert_jobs)  # the ORM path
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    specs = [JobSpec(ADD, "default", 0, [i], {}) for i in range(5)]
    jobs = enqueue_jobs(specs, backend_alias="default", using="default")
    assert len({job.pk for job in jobs}) == 5
    assert sorted(ReadyExecution.objects.values_list("job_id", flat=True)) == sorted(j.pk for j in jobs)
    assert [Job.objects.get(pk=j.pk).args for j in jobs] == [[i] for i in range(5)]


def test_batches_respect_rows_and_bytes(monkeypatch):
    monkeypatch.setattr(enqueue_ops, "BATCH_BYTES", 100)
    specs = [JobSpec(ADD, "q", 0, ["x" * 40], {}) for _ in range(5)]
    assert list(enqueue_ops._batches(specs, 1000)) == [(0, 2), (2, 4), (4, 5)]
    assert list(enqueue_ops._batches(specs * 2, 3)) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    monkeypatch.setattr(enqueue_ops, "BATCH_BYTES", 10**9)
    assert list(enqueue_ops._batches(specs * 2, 3)) == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_batch_size_fits_the_databases_parameter_limit():
    size = batch_size("default")
    assert 1 <= size <= BATCH_SIZE
    limit = connection.features.max_query_params
    if limit:
        inserted = [f for f in Job._meta.concrete_fields if not f.primary_key]
        assert size * len(inserted) <= limit


def _bulk(count: int, **overrides) -> list[JobSpec]:
    return [JobSpec(**{"task_path": ADD, "queue_name": "q", "priority": 0, "args": [i], "kwargs": {"n": i},
                       **overrides}) for i in range(count)]


def test_a_bulk_of_ten_thousand_jobs_is_one_statement_per_batch_on_every_database():
    count = 10_000
    batches = math.ceil(count / batch_size("default"))
    with CaptureQueriesContext(connection) as queries:
        jobs = enqueue_jobs(_bulk(count), backend_alias="default", using="default")
    # a constant beyond the batches: the transaction, MySQL's lock-mode look-up, SQLite's execution INSERTs
    assert len(queries) <= batches + 4, f"{len(queries)} queries for {batches} batches"
    ids = [job.pk for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == count  # in enqueue order
    stored = dict(Job.objects.values_list("pk", "args"))
    assert [stored[job_id] for job_id in ids] == [[i] for i in range(count)]
    assert sorted(ReadyExecution.objects.values_list("job_id", flat=True)) == ids


def test_enqueue_jobs_maps_ids_to_rows_across_ready_scheduled_and_gated_jobs(monkeypatch):
    monkeypatch.setattr(enqueue_ops, "batch_size", lambda using: 4)  # several batches
    later = timezone.now() + timedelta(hours=1)
    gate = Concurrency(key="k", limit=1)
    specs = []
    for i in range(10):
        kind = i % 3
        specs.append(JobSpec(ADD, f"q{i}", i - 5, [i], {"b": i, "a": -i},
                             later + timedelta(minutes=i) if kind == 1 else None,
                             concurrency_key="gate" if kind == 2 else None,
                             concurrency=gate if kind == 2 else None))
    jobs = enqueue_jobs(specs, backend_alias="default", using="default")
    for i, job in enumerate(jobs):
        stored = Job.objects.get(pk=job.pk)
        assert (stored.queue_name, stored.priority, stored.args) == (f"q{i}", i - 5, [i])
        assert list(stored.kwargs.items()) == [("b", i), ("a", -i)]  # key order kept
        assert stored.enqueued_at == job.enqueued_at
    ready = dict(ReadyExecution.objects.values_list("job_id", "queue_name"))
    scheduled = {row.job_id: (row.queue_name, row.priority, row.scheduled_at)
                 for row in ScheduledExecution.objects.all()}
    assert scheduled == {jobs[i].pk: (f"q{i}", i - 5, later + timedelta(minutes=i)) for i in (1, 4, 7)}
    # the gated jobs took the semaphore in enqueue order: the first runs, the others wait
    assert ready == {jobs[i].pk: f"q{i}" for i in (0, 3, 6, 9, 2)}
    assert sorted(BlockedExecution.objects.values_list("job_id", flat=True)) == [jobs[5].pk, jobs[8].pk]


def test_enqueue_jobs_stores_what_json_text_the_caller_already_has():
    spec = JobSpec(ADD, "q", 0, ["é", {"z": 1, "y": [1.5, None]}], {"\u00e9": "x"})
    job, = enqueue_jobs([spec], backend_alias="default", using="default")
    stored = Job.objects.get(pk=job.pk)
    assert stored.args == ["é", {"z": 1, "y": [1.5, None]}] and list(stored.args[1]) == ["z", "y"]
    assert stored.kwargs == {"é": "x"}


@pytest.mark.django_db(transaction=True)
def test_a_failing_bulk_insert_leaves_nothing_behind():
    specs = _bulk(5)
    specs[3] = JobSpec(ADD, "q", 1000, [3], {})  # outside the column's range: the database refuses it
    with pytest.raises(DatabaseError):
        enqueue_jobs(specs, backend_alias="default", using="default")
    assert not Job.objects.exists() and not ReadyExecution.objects.exists()
    assert len(enqueue_jobs(_bulk(2), backend_alias="default", using="default")) == 2  # the connection still works


def test_the_generic_dialect_has_no_bulk_insert_of_its_own():
    assert Dialect(connection).insert_jobs(using="default", jobs=None) is None


@pytest.mark.applies(settings.DB == "mysql", reason="the AUTO-INC lock mode is MySQL's")
def test_on_mysql_without_consecutive_ids_each_job_is_its_own_insert_in_one_round_trip(monkeypatch):
    from dj_queue_plugins import mysql_sql

    monkeypatch.setattr(mysql_sql, "consecutive_ids", lambda connection: False)
    monkeypatch.setattr(enqueue_ops, "batch_size", lambda using: 50)
    later = timezone.now() + timedelta(hours=1)
    specs = [JobSpec(ADD, "q", 0, [i], {}, later if i % 2 else None) for i in range(120)]
    with CaptureQueriesContext(connection) as queries:
        jobs = enqueue_jobs(specs, backend_alias="default", using="default")
    inserts = [q["sql"] for q in queries if "INSERT" in q["sql"]]
    assert len(inserts) == 3 and inserts[0].count("INSERT INTO") == 100  # 50 jobs, 50 executions
    stored = dict(Job.objects.values_list("pk", "args"))
    assert [stored[job.pk] for job in jobs] == [[i] for i in range(120)]
    assert sorted(ReadyExecution.objects.values_list("job_id", flat=True)) == [j.pk for j in jobs[::2]]
    assert sorted(ScheduledExecution.objects.values_list("job_id", flat=True)) == [j.pk for j in jobs[1::2]]


@pytest.mark.applies(settings.DB == "mysql", reason="the AUTO-INC lock mode is MySQL's")
def test_on_mysql_consecutive_ids_follow_the_lock_mode(monkeypatch):
    from dj_queue_plugins import mysql_sql

    class Fake:
        def __init__(self, row):
            self.row = row

        def cursor(self):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql):
            assert sql == "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment"

        def fetchone(self):
            return self.row

    rows = {(0, 1): True, (1, 1): True, (2, 1): False, (1, 2): False}
    assert {row: mysql_sql.consecutive_ids(Fake(row)) for row in rows} == rows


@pytest.mark.parametrize("signal_name", ["pre_init", "post_init"])
def test_new_rows_are_the_same_with_init_listeners_which_are_then_called(signal_name):
    # Without listeners the rows skip Model.__init__ (fast path); with one they go through it.
    from django.db.models import signals

    def fields(job: Job) -> dict:
        values = {f.attname: getattr(job, f.attname) for f in Job._meta.concrete_fields}
        return {k: v for k, v in values.items() if k not in ("id", "enqueued_at")}

    later = timezone.now() + timedelta(hours=1)
    plain = [one(), one(run_after=later), *enqueue_jobs([JobSpec(ADD, "q", 1, [i], {"k": i}) for i in range(2)],
                                                           backend_alias="default", using="default")]
    seen = []

    def listener(sender, **kwargs):
        seen.append(sender)

    getattr(signals, signal_name).connect(listener, sender=Job)
    try:
        heard = [one(), one(run_after=later), *enqueue_jobs([JobSpec(ADD, "q", 1, [i], {"k": i}) for i in range(2)],
                                                               backend_alias="default", using="default")]
    finally:
        getattr(signals, signal_name).disconnect(listener, sender=Job)
    assert seen.count(Job) >= 4
    assert [fields(job) for job in heard] == [fields(job) for job in plain]
    assert all(job.pk and not job._state.adding and job._state.db == "default" for job in plain + heard)
    stored = {job.pk: fields(job) for job in Job.objects.filter(pk__in=[j.pk for j in plain + heard])}
    assert stored == {job.pk: fields(job) for job in plain + heard}
    assert ScheduledExecution.objects.filter(job_id__in=[plain[1].pk, heard[1].pk]).count() == 2
    assert ReadyExecution.objects.filter(job_id__in=[j.pk for j in plain + heard]).count() == 6
