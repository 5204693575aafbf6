"""dj_queue on its own database alias (SPEC §11), with two real databases.

The main suite has one database, so ``test_multi_database_suite`` runs this same module again in
a subprocess with ``--ds=tests.settings_multidb`` ("default" for the application, "queue" for
dj_queue, same vendor as ``DJ_QUEUE_TEST_DB``); the other tests only run in that inner run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction

from dj_queue import hookimpl, plugins
from dj_queue.api import enqueue_on_commit
from dj_queue.models import ClaimedExecution, Job, Process, ReadyExecution
from dj_queue.operations.claim import claim
from dj_queue.operations.completion import fail, finish
from tests.conftest import wait_until
from tests.tasks_app import tasks

ROOT = Path(__file__).resolve().parent.parent
INNER = "queue" in settings.DATABASES
BOTH = ["default", "queue"]
inner = pytest.mark.applies(INNER, reason="runs in the multi-database subprocess")


@pytest.mark.applies(not INNER, reason="this is the outer launcher")
def test_multi_database_suite():
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DJ_QUEUE_TEST_DB_NAME", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ds=tests.settings_multidb",
         "-o", "addopts=", str(Path(__file__).relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 8, output


def _dj_queue_tables(alias: str) -> set[str]:
    return {t for t in connections[alias].introspection.table_names() if t.startswith("dj_queue_")}


@inner
@pytest.mark.django_db(databases=BOTH)
def test_dj_queue_tables_exist_only_on_the_queue_alias():
    assert _dj_queue_tables("default") == set()
    assert {Job._meta.db_table, ReadyExecution._meta.db_table, Process._meta.db_table} <= _dj_queue_tables("queue")
    # The application's own app still migrates everywhere the router has no opinion on.
    assert "tasks_app_sideeffect" in connections["default"].introspection.table_names()


@inner
@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_migrate_on_default_creates_no_dj_queue_tables():
    call_command("migrate", "dj_queue", database="default", verbosity=0)
    call_command("migrate", "dj_queue", database="queue", verbosity=0)
    assert _dj_queue_tables("default") == set()
    assert Job._meta.db_table in _dj_queue_tables("queue")


@inner
def test_router_sends_dj_queue_models_to_the_queue_alias():
    assert Job.objects.db == "queue"
    assert tasks.add.get_backend().using == "queue"


@inner
@pytest.mark.django_db(databases=BOTH)
def test_enqueue_writes_only_to_the_queue_alias_and_get_result_reads_it_back():
    result = tasks.add.enqueue(2, 3)
    job = Job.objects.using("queue").get(pk=int(result.id))
    assert job.args == [2, 3]
    assert ReadyExecution.objects.using("queue").filter(job=job).exists()
    assert _dj_queue_tables("default") == set()
    again = tasks.add.get_result(result.id)
    assert again.id == result.id and again.status.name == "READY" and again.args == [2, 3]


@inner
@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_claim_and_finish_through_operations_on_the_queue_alias():
    result = tasks.add.enqueue(4, 5)
    claimed = claim(backend_alias="default", using="queue", selectors=["*"], limit=5,
                    process_id=None, worker_id="worker-multidb")
    assert [job.pk for job in claimed] == [int(result.id)]
    assert ClaimedExecution.objects.using("queue").filter(job_id=int(result.id)).exists()
    assert tasks.add.get_result(result.id).status.name == "RUNNING"
    assert finish(claimed[0], 9, process_id=None, using="queue")
    done = tasks.add.get_result(result.id)
    assert done.status.name == "SUCCESSFUL" and done.return_value == 9


@inner
@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_failure_is_recorded_on_the_queue_alias_and_fires_the_hook():
    failed = []

    class Recorder:
        @hookimpl
        def dj_queue_job_failed(self, job, error):
            failed.append((job.pk, str(error)))

    plugins.register(Recorder(), name="test.multidb.recorder")
    try:
        result = tasks.fail.enqueue("nope")
        [job] = claim(backend_alias="default", using="queue", selectors=["*"], limit=1,
                      process_id=None, worker_id="worker-multidb")
        assert fail(job, ValueError("nope"), process_id=None, using="queue")
    finally:
        plugins.reset_plugin_manager()
    assert failed == [(int(result.id), "nope")]
    assert tasks.fail.get_result(result.id).status.name == "FAILED"


@inner
@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_enqueue_on_commit_follows_the_application_transaction_on_default():
    with transaction.atomic(using="default"):
        enqueue_on_commit(tasks.add, 1, 1)
        assert not Job.objects.using("queue").exists()
    assert Job.objects.using("queue").get().args == [1, 1]
    with pytest.raises(RuntimeError), transaction.atomic(using="default"):
        enqueue_on_commit(tasks.add, 2, 2)
        raise RuntimeError("roll back")
    assert Job.objects.using("queue").count() == 1


@inner
@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_worker_runs_jobs_entirely_on_the_queue_alias():
    from dj_queue.runtime.worker import Worker
    from tests.runtime.helpers import Running, options

    result = tasks.add.enqueue(20, 22)
    worker = Worker(backend_alias="default", options=options(database_alias="queue"), queues=["*"],
                    threads=1, polling_interval=0.05)
    running = Running(worker)
    try:
        wait_until(lambda: tasks.add.get_result(result.id).status.name == "SUCCESSFUL", timeout=20,
                   message="the job finished on the queue alias")
        assert Process.objects.using("queue").filter(kind="worker").exists()
    finally:
        running.stop()
    assert tasks.add.get_result(result.id).return_value == 42
    assert _dj_queue_tables("default") == set()
