"""Recovery of claims left by processes that exited, were pruned or are missing (rescue)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from dj_queue import hookimpl, plugins
from dj_queue.exceptions import ProcessExitError
from dj_queue.models import ClaimedExecution, FailedExecution, Job, Process, ReadyExecution
from dj_queue.operations import completion, processes, recovery

pytestmark = pytest.mark.django_db


def options(**values):
    return override_settings(TASKS={"default": {
        "BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": values}})


def _process(age: float = 0, backend_alias: str = "default") -> Process:
    process = processes.register(kind="worker", backend_alias=backend_alias, using="default")
    if age:
        Process.objects.filter(pk=process.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=age))
    return process


def _claimed(process_id, backend_alias: str = "default", started: bool = False, **fields) -> Job:
    job = Job.objects.create(task_path="tests.tasks_app.tasks.noop", backend_alias=backend_alias,
                             worker_ids=["w1", "w2"], started_at=timezone.now(), **fields)
    ClaimedExecution.objects.create(job=job, process_id=process_id, backend_alias=backend_alias,
                                    started_at=timezone.now() if started else None)
    return job


def _failure(job: Job) -> FailedExecution:
    return FailedExecution.objects.get(job=job)


def _ready(job: Job) -> bool:
    return ReadyExecution.objects.filter(job=job).exists()


def test_process_exited_puts_its_claims_back_to_ready_with_the_crash_recorded():
    process, other = _process(), _process()
    mine, theirs = _claimed(process.pk), _claimed(other.pk)
    assert recovery.process_exited(process, using="default", reason="was killed by SIGKILL") == 1
    assert _ready(mine) and not FailedExecution.objects.exists()
    mine.refresh_from_db()
    assert mine.crashes == 1 and mine.finished_at is None and mine.worker_ids == ["w1", "w2"]
    [error] = mine.errors
    assert error["exception_class"] == "dj_queue.exceptions.ProcessExitError"
    assert "SIGKILL" in error["message"] and process.name in error["message"]
    assert not Process.objects.filter(pk=process.pk).exists()
    assert ClaimedExecution.objects.filter(job=theirs, process_id=other.pk).exists()


def test_at_least_once_ends_failed_at_the_crash_limit():
    process = _process()
    job = _claimed(process.pk, crashes=2)
    with options(crash_limit=3):
        recovery.process_exited(process, using="default", reason="was killed by SIGKILL")
    failure = _failure(job)
    assert failure.exception_class == "dj_queue.exceptions.ProcessExitError"
    assert failure.message.endswith("(crash limit of 3 reached)")
    job.refresh_from_db()
    assert job.crashes == 3 and job.finished_at is not None and len(job.errors) == 1


def test_at_most_once_fails_started_jobs_and_readies_the_others():
    process = _process()
    started, waiting = _claimed(process.pk, started=True), _claimed(process.pk, started=False)
    with options(delivery="at_most_once"):
        assert recovery.process_exited(process, using="default", reason="was killed by SIGKILL") == 2
    assert _failure(started).exception_class == "dj_queue.exceptions.ProcessExitError"
    assert _ready(waiting) and not FailedExecution.objects.filter(job=waiting).exists()
    waiting.refresh_from_db()
    # The attempt never began: its worker id is taken back and no error is recorded.
    assert waiting.worker_ids == ["w1"] and waiting.errors == [] and waiting.crashes == 0


def test_prune_rescues_claims_of_expired_processes_only():
    expired, alive, me = _process(age=600), _process(), _process(age=600)
    elsewhere = _process(age=600, backend_alias="other")
    lost, kept, spared = _claimed(expired.pk), _claimed(alive.pk), _claimed(me.pk)
    pruned = recovery.prune(backend_alias="default", using="default", threshold=300, exclude_id=me.pk)
    assert [p.pk for p in pruned] == [expired.pk]
    lost.refresh_from_db()
    assert _ready(lost) and lost.errors[0]["exception_class"] == "dj_queue.exceptions.ProcessPrunedError"
    assert set(Process.objects.values_list("pk", flat=True)) == {alive.pk, me.pk, elsewhere.pk}
    assert ClaimedExecution.objects.filter(job__in=[kept, spared]).count() == 2


def test_a_pruned_process_finishing_late_changes_nothing():
    process = _process(age=600)
    job = _claimed(process.pk, started=True)
    with options(delivery="at_most_once"):
        recovery.prune(backend_alias="default", using="default", threshold=300)
    assert completion.finish(job, 42, process_id=process.pk, using="default") is False
    job.refresh_from_db()
    # It started (the start mark is written before the body runs): at most once, so it is not run again.
    assert job.return_value is None and _failure(job).exception_class.endswith("ProcessPrunedError")


def test_orphaned_claims_are_rescued_with_process_missing():
    alive = _process()
    kept, orphan, nameless = _claimed(alive.pk), _claimed(alive.pk + 1000), _claimed(None)
    other_backend = _claimed(alive.pk + 1000, backend_alias="other")
    assert recovery.fail_orphaned_claims(backend_alias="default", using="default") == 2
    for job in (orphan, nameless):
        job.refresh_from_db()
        assert _ready(job) and job.errors[0]["exception_class"] == "dj_queue.exceptions.ProcessMissingError"
    assert ClaimedExecution.objects.filter(job__in=[kept, other_backend]).count() == 2
    assert recovery.fail_orphaned_claims(backend_alias="default", using="default") == 0


@pytest.mark.parametrize("delivery, hook", [("at_least_once", "rescued"), ("at_most_once", "failed")])
def test_recovery_fires_the_rescued_or_failed_hook(delivery, hook, django_capture_on_commit_callbacks):
    seen = []

    class Spy:
        @hookimpl
        def dj_queue_job_failed(self, job, error):
            seen.append(("failed", job.pk, type(error)))

        @hookimpl
        def dj_queue_job_rescued(self, job, error):
            seen.append(("rescued", job.pk, type(error)))

    spy = Spy()
    plugins.register(spy)
    try:
        process = _process()
        job = _claimed(process.pk, started=True)
        with options(delivery=delivery), django_capture_on_commit_callbacks(execute=True):
            recovery.process_exited(process, using="default")
    finally:
        plugins.get_plugin_manager().unregister(spy)
    assert seen == [(hook, job.pk, ProcessExitError)]


def test_maintain_runs_prune_and_orphan_recovery():
    expired = _process(age=600)
    pruned_job, orphan_job = _claimed(expired.pk, started=True), _claimed(expired.pk + 1000, started=True)
    with options(delivery="at_most_once"):
        recovery.maintain(backend_alias="default", using="default", threshold=300)
    assert _failure(pruned_job).exception_class.endswith("ProcessPrunedError")
    assert _failure(orphan_job).exception_class.endswith("ProcessMissingError")


def test_release_strays_readies_unstarted_claims_fails_started_at_most_once_ones_and_keeps_held_ones():
    process, other = _process(), _process()
    never_received, began, running = (_claimed(process.pk), _claimed(process.pk, started=True),
                                      _claimed(process.pk))
    theirs = _claimed(other.pk)
    with options(delivery="at_most_once"):
        assert recovery.release_strays(process_id=process.pk, using="default",
                                       held=lambda job_id: job_id == running.pk) == 2
    assert _ready(never_received) and not ClaimedExecution.objects.filter(job=never_received).exists()
    failure = _failure(began)
    assert failure.exception_class == "dj_queue.exceptions.OutcomeLostError"
    assert not _ready(began)  # it began: at most once, so never run again
    for job, holder in ((running, process), (theirs, other)):
        assert ClaimedExecution.objects.filter(job=job, process_id=holder.pk).exists()
