"""Process rows: register, heartbeat, deregister, expiry on the database clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import ClaimedExecution, Job, Process, ReadyExecution
from dj_queue.operations import processes

pytestmark = pytest.mark.django_db


def _register(**kwargs) -> Process:
    return processes.register(kind="worker", backend_alias=kwargs.pop("backend_alias", "default"),
                              using="default", **kwargs)


def test_register_fills_the_row_with_a_unique_name():
    first, second = _register(metadata={"threads": 3}), _register()
    first.refresh_from_db()
    assert first.kind == "worker" and first.pid > 0 and first.hostname
    assert first.name.startswith(f"worker-{first.hostname}-{first.pid}-") and first.name != second.name
    assert first.metadata == {"threads": 3}
    assert abs((first.last_heartbeat_at - timezone.now()).total_seconds()) < 60


def test_heartbeat_refreshes_and_reports_a_pruned_row():
    process = _register()
    Process.objects.filter(pk=process.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    assert processes.heartbeat(process.pk, using="default") is True
    process.refresh_from_db()
    assert timezone.now() - process.last_heartbeat_at < timedelta(minutes=1)
    Process.objects.filter(pk=process.pk).delete()
    assert processes.heartbeat(process.pk, using="default") is False


def test_expired_uses_the_threshold_and_spares_the_caller():
    fresh, stale, mine = _register(), _register(), _register()
    _register(backend_alias="other")
    Process.objects.exclude(pk=fresh.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=120))
    found = processes.expired(backend_alias="default", using="default", threshold=60, exclude_id=mine.pk)
    assert [p.pk for p in found] == [stale.pk]
    assert processes.expired(backend_alias="default", using="default", threshold=600) == []


def test_fresh_count_per_backend():
    _register()
    old = _register(backend_alias="other")
    Process.objects.filter(pk=old.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert processes.fresh_count(backend_alias="default", using="default", max_age=60) == 1
    assert processes.fresh_count(backend_alias="other", using="default", max_age=60) == 0
    assert processes.fresh_count(backend_alias=None, using="default", max_age=600) == 2


def test_deregister_releases_claims_and_deletes_the_row():
    process = _register()
    job = Job.objects.create(task_path="tests.tasks_app.tasks.noop", worker_ids=[process.name])
    ClaimedExecution.objects.create(job=job, process_id=process.pk)
    assert processes.deregister(process.pk, using="default") == 1
    assert not Process.objects.filter(pk=process.pk).exists()
    assert ReadyExecution.objects.filter(job=job).exists() and not ClaimedExecution.objects.exists()


def test_live_lists_fresh_rows_of_the_backend_with_their_heartbeat_age():
    fresh = _register(hostname="web-1", pid=4242)
    stale = _register()
    Process.objects.filter(pk=stale.pk).update(last_heartbeat_at=timezone.now() - timedelta(minutes=10))
    _register(backend_alias="elsewhere")
    Process.objects.filter(pk=fresh.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=20))
    (row,) = processes.live(backend_alias="default", using="default", threshold=300)
    fresh.refresh_from_db()
    assert {k: row[k] for k in ("kind", "name", "hostname", "pid", "last_heartbeat_at")} == {
        "kind": "worker", "name": fresh.name, "hostname": "web-1", "pid": 4242,
        "last_heartbeat_at": fresh.last_heartbeat_at,
    }
    assert 19 < row["heartbeat_age_seconds"] < 60
