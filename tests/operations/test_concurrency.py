"""Semaphores, blocking and discarding, through the backend's enqueue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.compat import TaskResultStatus
from dj_queue.models import BlockedExecution, FailedExecution, Job, ReadyExecution, Semaphore
from dj_queue.operations import concurrency as ops
from tests.tasks_app.tasks import build_report, sync_account

pytestmark = pytest.mark.django_db


def state(result) -> str:
    job_id = int(result.id)
    for name, model in (("ready", ReadyExecution), ("blocked", BlockedExecution), ("failed", FailedExecution)):
        if model.objects.filter(job_id=job_id).exists():
            return name
    return "none"


def test_first_job_of_a_key_runs_and_the_rest_block_per_key():
    first, second, other = sync_account.enqueue(1), sync_account.enqueue(1), sync_account.enqueue(2)
    assert [state(first), state(second), state(other)] == ["ready", "blocked", "ready"]
    assert Job.objects.get(pk=first.id).concurrency_key == "account:1"
    assert Semaphore.objects.get(key="account:1").value == 0
    blocked = BlockedExecution.objects.get(job_id=second.id)
    assert blocked.expires_at > timezone.now() + timedelta(seconds=50)


def test_discard_records_the_job_as_failed_with_concurrency_limit_discarded():
    results = [build_report.enqueue("daily") for _ in range(3)]
    assert [state(r) for r in results] == ["ready", "ready", "failed"]
    assert [r.status for r in results] == [TaskResultStatus.READY, TaskResultStatus.READY, TaskResultStatus.FAILED]
    assert results[2].errors[0].exception_class_path == "dj_queue.exceptions.ConcurrencyLimitDiscarded"
    refreshed = build_report.get_result(results[2].id)
    assert refreshed.status == TaskResultStatus.FAILED
    assert refreshed.errors[0].exception_class_path == "dj_queue.exceptions.ConcurrencyLimitDiscarded"


def test_release_gives_the_slot_to_the_next_blocked_job_by_priority_then_age():
    running = sync_account.enqueue(5)
    low = sync_account.enqueue(5)
    high = sync_account.using(priority=10).enqueue(5)
    later = sync_account.enqueue(5)
    job = Job.objects.get(pk=running.id)
    ReadyExecution.objects.filter(job=job).delete()  # as if claimed and now finishing
    assert ops.release(job, using="default").pk == int(high.id)
    assert [state(high), state(low), state(later)] == ["ready", "blocked", "blocked"]
    assert ops.release(Job.objects.get(pk=high.id), using="default").pk == int(low.id)


def test_bulk_enqueue_takes_slots_in_order():
    backend = sync_account.get_backend()
    results = backend.enqueue_all([(sync_account, [3], {}), (sync_account, [3], {}), (sync_account, [4], {})])
    assert [state(r) for r in results] == ["ready", "blocked", "ready"]


def test_expired_semaphores_are_deleted_and_expired_blocks_released():
    sync_account.enqueue(6)
    waiting = sync_account.enqueue(6)
    assert ops.release_expired_blocked(backend_alias="default", using="default") == 0
    past = timezone.now() - timedelta(seconds=1)
    Semaphore.objects.update(expires_at=past)
    BlockedExecution.objects.update(expires_at=past)
    assert ops.expire_semaphores(backend_alias="default", using="default") == 1
    assert ops.release_expired_blocked(backend_alias="default", using="default") == 1
    assert state(waiting) == "ready"
    assert Semaphore.objects.get(key="account:6").value == 0


def test_scheduled_jobs_with_a_key_wait_as_scheduled_not_blocked():
    sync_account.enqueue(7)
    later = sync_account.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(7)
    assert state(later) == "none"
    assert Job.objects.get(pk=later.id).concurrency_key == "account:7"


def _claim_all():
    from dj_queue.operations.claim import claim

    return claim(backend_alias="default", using="default", selectors=["*"], limit=100,
                 process_id=None, worker_id="w")


def test_finishing_or_failing_a_job_unblocks_the_next_one():
    from dj_queue.operations.completion import fail, finish

    first, second, third = (sync_account.enqueue(11) for _ in range(3))
    [job] = _claim_all()
    assert finish(job, 11, process_id=None, using="default")
    assert [state(second), state(third)] == ["ready", "blocked"]
    [job] = _claim_all()
    assert fail(job, ValueError("x"), process_id=None, using="default")
    assert state(third) == "ready"


def test_due_scheduled_jobs_with_a_key_take_a_slot_or_block():
    from dj_queue.models import ScheduledExecution
    from dj_queue.operations.dispatch import dispatch_due

    sync_account.enqueue(12)
    soon = timezone.now() + timedelta(hours=1)
    waiting = [sync_account.using(run_after=soon).enqueue(12), sync_account.using(run_after=soon).enqueue(13)]
    assert ScheduledExecution.objects.filter(concurrency_key__isnull=False).count() == 2
    ScheduledExecution.objects.update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due(backend_alias="default", using="default") == 2
    assert [state(r) for r in waiting] == ["blocked", "ready"]


def test_retrying_a_failed_job_with_a_key_respects_the_limit():
    from dj_queue.operations.completion import fail
    from dj_queue.operations.jobs import retry_failed_job

    failed = sync_account.enqueue(14)
    [job] = _claim_all()
    fail(job, ValueError("x"), process_id=None, using="default")
    sync_account.enqueue(14)  # takes the slot the failure gave back
    assert retry_failed_job(int(failed.id))
    assert state(failed) == "blocked"


def test_a_task_found_only_through_task_modules_keeps_its_concurrency_settings(tmp_path, monkeypatch):
    """settings_for_job resolves as a worker does: with the backend's task_modules allowlist."""
    import sys

    from django.test import override_settings

    from dj_queue import resolution

    (tmp_path / "dj_queue_keyed_tasks.py").write_text(
        "from dj_queue.compat import task\nfrom dj_queue.concurrency import concurrency\n\n\n"
        "@task\n@concurrency(key='ext:{n}', limit=3)\ndef keyed(n: int) -> int:\n    return n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    job = Job(task_path="dj_queue_keyed_tasks.keyed", backend_alias="default", concurrency_key="ext:1")
    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                         "OPTIONS": {"task_modules": ["dj_queue_keyed_tasks"]}}}
    try:
        with override_settings(TASKS=tasks):  # (dj_queue forgets its cached options on the change)
            settings = ops.settings_for_job(job)  # a process that never imported the module
    finally:
        sys.modules.pop("dj_queue_keyed_tasks", None)
        resolution._resolve.cache_clear()
    assert settings is not None and settings.limit == 3
