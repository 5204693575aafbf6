"""A real ``manage.py dj_queue`` whose database connections go through PgBouncer in transaction mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dj_queue.models import FailedExecution, Job
from tests.conftest import wait_until
from tests.e2e.conftest import start_runtime  # noqa: F401  (fixture)
from tests.e2e.pgbouncer import pgbouncer  # noqa: F401  (fixture)
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [
    pytest.mark.applies(settings.DB == "postgres", reason="PgBouncer pools PostgreSQL connections only"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

FALLBACK = ("dj_queue: the notify listener's connection to database 'default' goes through a connection "
            "pooler, where LISTEN does not work; workers poll only (set notify_database_alias to a direct "
            "connection)")


@pytest.fixture
def behind_pgbouncer(pgbouncer, monkeypatch):  # noqa: F811
    """Runtimes started from here on connect through the PgBouncer (the test process does not)."""
    monkeypatch.setenv("DJ_QUEUE_PG_PORT", str(pgbouncer.port))
    monkeypatch.setenv("DJ_QUEUE_PG_POOLED", "1")
    return pgbouncer


def enqueue_work(prefix: str, count: int = 30) -> list:
    """Plain jobs, jobs that succeed on their second attempt, and jobs due in a second."""
    results = [tasks.record.enqueue(f"{prefix}-{index}") for index in range(count)]
    results += [tasks.fails_until.enqueue(2) for _ in range(3)]
    later = timezone.now() + timedelta(seconds=1)
    results += [tasks.record.using(run_after=later).enqueue(f"{prefix}-later-{index}") for index in range(3)]
    return results


def finished(results) -> bool:
    return Job.objects.filter(pk__in=[r.id for r in results], finished_at__isnull=False).count() == len(results)


def assert_all_done(results, prefix: str, runtime, bouncer) -> None:
    assert not FailedExecution.objects.exists(), runtime.log()
    assert SideEffect.objects.filter(key__startswith=prefix).count() == 33
    retried = Job.objects.filter(pk__in=[r.id for r in results], task_path=tasks.fails_until.module_path)
    assert sorted(job.return_value for job in retried) == [2, 2, 2]
    # The runtime really went through the pool.
    assert f"login attempt: db={connection.settings_dict['NAME']} " in bouncer.log()


def listener_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = 'dj_queue notify listener' AND query LIKE 'LISTEN %%'")
        return cursor.fetchone()[0]


def test_behind_pgbouncer_with_a_direct_listener_notifications_wake_the_workers(behind_pgbouncer, start_runtime,
                                                                               monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_PG_DIRECT_PORT", str(settings.DATABASES["default"]["PORT"]))
    # Workers poll every minute: finishing in seconds takes a NOTIFY (retries and due jobs are made
    # ready by the dispatcher, so their NOTIFY is sent through the pool).
    runtime = start_runtime("fork", {
        "notify_database_alias": "direct",
        "local_wakeup": False,
        "workers": [{"queues": "*", "threads": 3, "processes": 1, "polling_interval": 60}],
    })
    wait_until(lambda: listener_count() == 1, timeout=30, message="the worker's listener on the direct alias")
    results = enqueue_work("direct")
    wait_until(lambda: finished(results), timeout=30, message=f"all jobs finished\n{runtime.log()}")
    assert_all_done(results, "direct", runtime, behind_pgbouncer)
    assert "connection pooler" not in runtime.log()


def test_behind_pgbouncer_without_a_direct_alias_workers_poll_after_one_warning(behind_pgbouncer, start_runtime):
    runtime = start_runtime("fork", {"local_wakeup": False})
    wait_until(lambda: FALLBACK in runtime.log(), timeout=30, message="the pooler warning")
    results = enqueue_work("polled")
    wait_until(lambda: finished(results), timeout=30, message=f"all jobs finished\n{runtime.log()}")
    assert_all_done(results, "polled", runtime, behind_pgbouncer)
    assert runtime.log().count(FALLBACK) == 1  # one worker process, one warning
    assert listener_count() == 0
