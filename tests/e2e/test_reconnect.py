"""A runtime whose database connections the server drops (as in a restart) reports it, reconnects
and goes on: jobs run, scheduled jobs are dispatched, every process heartbeats again and, at a
graceful stop, deregisters.

The server's own restart is ``make chaos``; here only the test database's other sessions are
ended, so helpers sharing the server are not disturbed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dj_queue.models import Job, Process
from tests.conftest import wait_until
from tests.tasks_app import tasks

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.timeout(180),
    pytest.mark.applies(settings.DB != "sqlite", reason="SQLite has no server to drop connections"),
]


def _drop_the_runtimes_connections() -> int:
    """End every other session on the test database; how many were ended."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return len(cursor.fetchall())
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()")
        ids = [row[0] for row in cursor.fetchall()]
        for session in ids:
            cursor.execute(f"KILL {int(session)}")
        return len(ids)


def _finished(*results) -> bool:
    ids = [int(result.id) for result in results]
    return Job.objects.filter(pk__in=ids, finished_at__isnull=False).count() == len(ids)


def _all_beat_since(moment) -> bool:
    rows = list(Process.objects.all())
    return len(rows) >= 3 and all(row.last_heartbeat_at > moment for row in rows)


@pytest.mark.parametrize("mode", ["fork", "async"])
def test_the_runtime_reconnects_after_the_server_drops_its_connections(start_runtime, mode):
    runtime = start_runtime(mode)
    first = tasks.add.enqueue(1, 2)
    wait_until(lambda: _finished(first), timeout=40, message="the first job ran")
    wait_until(lambda: Process.objects.count() >= 3, timeout=30, message="supervisor, worker, dispatcher")

    assert _drop_the_runtimes_connections() > 0
    dropped_at = timezone.now()
    ready = tasks.add.enqueue(2, 3)
    scheduled = tasks.add.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(3, 4)

    wait_until(lambda: _finished(ready, scheduled), timeout=60, message="jobs run after reconnecting")
    wait_until(lambda: _all_beat_since(dropped_at), timeout=30, message="every process heartbeating again")
    assert runtime.proc.poll() is None
    wait_until(lambda: "dj_queue: runtime error (" in runtime.log(), timeout=10,
               message="the dropped connection reported with who met it doing what")

    # Dropped again just before a graceful stop: each process deregisters on a fresh connection.
    _drop_the_runtimes_connections()
    runtime.stop()
    assert runtime.proc.returncode == 0
    assert not Process.objects.exists()
