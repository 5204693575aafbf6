"""Recovery of claims left by processes that exited, were pruned or are missing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue import hookimpl, plugins
from dj_queue.exceptions import ProcessExitError
from dj_queue.models import ClaimedExecution, FailedExecution, Job, Process
from dj_queue.operations import completion, processes, recovery

pytestmark = pytest.mark.django_db


def _process(age: float = 0, backend_alias: str = "default") -> Process:
    process = processes.register(kind="worker", backend_alias=backend_alias, using="default")
    if age:
        Process.objects.filter(pk=process.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=age))
    return process


def _claimed(process_id, backend_alias: str = "default") -> Job:
    job = Job.objects.create(task_path="tests.tasks_app.tasks.noop", backend_alias=backend_alias,
                             worker_ids=["w"], started_at=timezone.now())
    ClaimedExecution.objects.create(job=job, process_id=process_id, backend_alias=backend_alias)
    return job


def _failure(job: Job) -> FailedExecution:
    return FailedExecution.objects.get(job=job)


def test_process_exited_fails_its_claims_and_removes_the_row():
    process, other = _process(), _process()
    mine, theirs = _claimed(process.pk), _claimed(other.pk)
    assert recovery.process_exited(process, using="default", reason="was killed by SIGKILL") == 1
    failure = _failure(mine)
    assert failure.exception_class == "dj_queue.exceptions.ProcessExitError"
    assert "SIGKILL" in failure.message and process.name in failure.message
    assert not Process.objects.filter(pk=process.pk).exists()
    assert ClaimedExecution.objects.filter(job=theirs, process_id=other.pk).exists()


def test_prune_fails_claims_of_expired_processes_only():
    expired, alive, me = _process(age=600), _process(), _process(age=600)
    elsewhere = _process(age=600, backend_alias="other")
    lost, kept, spared = _claimed(expired.pk), _claimed(alive.pk), _claimed(me.pk)
    pruned = recovery.prune(backend_alias="default", using="default", threshold=300, exclude_id=me.pk)
    assert [p.pk for p in pruned] == [expired.pk]
    assert _failure(lost).exception_class == "dj_queue.exceptions.ProcessPrunedError"
    assert set(Process.objects.values_list("pk", flat=True)) == {alive.pk, me.pk, elsewhere.pk}
    assert ClaimedExecution.objects.filter(job__in=[kept, spared]).count() == 2


def test_a_pruned_process_finishing_late_changes_nothing():
    process = _process(age=600)
    job = _claimed(process.pk)
    recovery.prune(backend_alias="default", using="default", threshold=300)
    assert completion.finish(job, 42, process_id=process.pk, using="default") is False
    job.refresh_from_db()
    assert job.return_value is None and _failure(job).exception_class.endswith("ProcessPrunedError")


def test_orphaned_claims_fail_with_process_missing():
    alive = _process()
    kept, orphan, nameless = _claimed(alive.pk), _claimed(alive.pk + 1000), _claimed(None)
    other_backend = _claimed(alive.pk + 1000, backend_alias="other")
    assert recovery.fail_orphaned_claims(backend_alias="default", using="default") == 2
    assert _failure(orphan).exception_class == "dj_queue.exceptions.ProcessMissingError"
    assert _failure(nameless).exception_class == "dj_queue.exceptions.ProcessMissingError"
    assert ClaimedExecution.objects.filter(job__in=[kept, other_backend]).count() == 2
    assert recovery.fail_orphaned_claims(backend_alias="default", using="default") == 0


def test_recovery_fires_the_job_failed_hook(django_capture_on_commit_callbacks):
    seen = []

    class Spy:
        @hookimpl
        def dj_queue_job_failed(self, job, error):
            seen.append((job.pk, type(error)))

    spy = Spy()
    plugins.register(spy)
    try:
        process = _process()
        job = _claimed(process.pk)
        with django_capture_on_commit_callbacks(execute=True):
            recovery.process_exited(process, using="default")
    finally:
        plugins.get_plugin_manager().unregister(spy)
    assert seen == [(job.pk, ProcessExitError)]


def test_maintain_runs_prune_and_orphan_recovery():
    expired = _process(age=600)
    pruned_job, orphan_job = _claimed(expired.pk), _claimed(expired.pk + 1000)
    recovery.maintain(backend_alias="default", using="default", threshold=300)
    assert _failure(pruned_job).exception_class.endswith("ProcessPrunedError")
    assert _failure(orphan_job).exception_class.endswith("ProcessMissingError")
