"""``OrderedJSONField``: job arguments and return values come back as written, key order included."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from dj_queue import plugins
from dj_queue.fields import OrderedJSONField
from dj_queue.models import ClaimedExecution, Job
from dj_queue.operations.claim import claim
from dj_queue.operations.completion import finish, finish_many
from dj_queue.operations.selectors import parse_selectors
from tests.factories import make_job

pytestmark = pytest.mark.django_db

UNSORTED = {"b": 1, "a": 2, "c": {"z": 1, "y": 2}}
ARGS = [{"y": 1, "x": [{"q": 1, "p": 2}]}, "s"]
KWARGS = {"zeta": 1, "alpha": {"n": 1, "m": 2}}


def keys(value: dict) -> list:
    return [list(value), list(value["c"])] if "c" in value else [list(value)]


def stored_text(job_id: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM dj_queue_job WHERE id = %s", [job_id])
        return cursor.fetchone()[0]


def test_the_column_holds_text_where_the_json_type_would_reorder():
    field = Job._meta.get_field("return_value")
    assert isinstance(field, OrderedJSONField) and field.get_internal_type() == "JSONField"
    expected = {"postgresql": "text", "mysql": "longtext", "sqlite": "text"}[connection.vendor]
    assert field.db_type(connection) == expected
    # worker_ids stays JSON: the PostgreSQL dialect appends to it with ||.
    expected = {"postgresql": "jsonb", "mysql": "json", "sqlite": "text"}[connection.vendor]
    assert Job._meta.get_field("worker_ids").db_type(connection) == expected


def test_arguments_and_return_value_keep_their_key_order_through_the_orm():
    job = Job.objects.create(task_path="tests.tasks_app.tasks.echo", args=ARGS, kwargs=KWARGS,
                             return_value=UNSORTED)
    again = Job.objects.get(pk=job.pk)
    assert (again.args, again.kwargs, again.return_value) == (ARGS, KWARGS, UNSORTED)
    assert list(again.args[0]) == ["y", "x"] and list(again.args[0]["x"][0]) == ["q", "p"]
    assert list(again.kwargs) == ["zeta", "alpha"] and list(again.kwargs["alpha"]) == ["n", "m"]
    assert keys(again.return_value) == [["b", "a", "c"], ["z", "y"]]
    # The database keeps the very text that was written.
    assert stored_text(job.pk, "return_value") == json.dumps(UNSORTED)
    assert stored_text(job.pk, "kwargs") == json.dumps(KWARGS)


def test_json_null_is_sql_null_and_other_scalars_round_trip():
    job = Job.objects.create(task_path="t.x", return_value=None)
    assert stored_text(job.pk, "return_value") is None
    for value in ["text", "1", 0, 1.5, True, [], {}]:
        Job.objects.filter(pk=job.pk).update(return_value=value)
        assert Job.objects.get(pk=job.pk).return_value == value


def test_claimed_jobs_carry_ordered_arguments():
    job = make_job("ready", args=ARGS, kwargs=KWARGS)
    [claimed] = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                      process_id=None, worker_id="w")
    assert claimed.pk == job.pk
    assert list(claimed.args[0]) == ["y", "x"] and list(claimed.kwargs) == ["zeta", "alpha"]


def test_finish_keeps_the_order_of_the_return_value():
    job = make_job("claimed")
    ClaimedExecution.objects.filter(job=job).update(process_id=None)
    assert finish(job, UNSORTED, process_id=None, using="default")
    assert keys(Job.objects.get(pk=job.pk).return_value) == [["b", "a", "c"], ["z", "y"]]


def test_finish_many_keeps_each_order_even_for_values_that_differ_only_in_order():
    jobs = [make_job("claimed") for _ in range(3)]
    ClaimedExecution.objects.filter(job__in=jobs).update(process_id=None)
    values = [UNSORTED, {"a": 2, "b": 1, "c": {"y": 2, "z": 1}}, {"c": {"z": 1, "y": 2}, "b": 1, "a": 2}]
    finished = finish_many(list(zip(jobs, values)), process_id=None, using="default")
    assert [job.pk for job in finished] == [job.pk for job in jobs]
    stored = [Job.objects.get(pk=job.pk).return_value for job in jobs]
    assert [keys(value) for value in stored] == [keys(value) for value in values]


def test_a_workers_finish_and_claim_turn_keeps_both_orders():
    # The dialect's one-round-trip turn: raw SQL on PostgreSQL and MySQL.
    done = make_job("claimed")
    ClaimedExecution.objects.filter(job=done).update(process_id=None)
    waiting = make_job("ready", args=ARGS, kwargs=KWARGS)
    dialect = plugins.get_dialect("default")
    finished, claimed = dialect.finish_and_claim(
        using="default", backend_alias="default", items=[(done.pk, UNSORTED)],
        selectors=parse_selectors(["*"]), limit=1, process_id=None, worker_id="w",
        now=Job.objects.get(pk=done.pk).enqueued_at)
    assert finished == [done.pk] and [job.pk for job in claimed] == [waiting.pk]
    assert list(claimed[0].kwargs) == ["zeta", "alpha"] and list(claimed[0].args[0]) == ["y", "x"]
    assert keys(Job.objects.get(pk=done.pk).return_value) == [["b", "a", "c"], ["z", "y"]]
