"""Migration 0003_ordered_json: jobs written under 0001 keep their values, new ones keep key order;
unapplying it works too (the test goes back to 0001 first)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from dj_queue.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

INITIAL = [("dj_queue", "0001_initial")]


def migrate(targets: list | None = None) -> None:
    """Migrate dj_queue to ``targets``, by default to its latest migration."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes("dj_queue"))


def test_a_job_stored_before_the_migration_reads_back_after_it():
    migrate(INITIAL)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO dj_queue_job (backend_alias, queue_name, task_path, priority, args, kwargs, "
                "return_value, worker_ids, enqueued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                ["default", "default", "tests.tasks_app.tasks.add", 0, json.dumps([1, {"k": "v"}]),
                 json.dumps({"x": 1}), json.dumps({"a": 1}), json.dumps(["w"]), "2026-01-01 00:00:00"],
            )
    finally:
        migrate()
    old = Job.objects.get()
    assert (old.args, old.kwargs, old.return_value, old.worker_ids) == ([1, {"k": "v"}], {"x": 1}, {"a": 1}, ["w"])
    Job.objects.filter(pk=old.pk).update(return_value={"b": 1, "a": 2})
    assert list(Job.objects.get(pk=old.pk).return_value) == ["b", "a"]
