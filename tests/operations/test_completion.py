"""Claimed -> finished / failed, and the dj_queue_job_failed hook."""

from __future__ import annotations

import pytest
from django.test import override_settings

import dj_queue
from dj_queue import plugins
from dj_queue.exceptions import ProcessPrunedError
from dj_queue.models import ClaimedExecution, FailedExecution, Job, ReadyExecution
from dj_queue.operations.completion import fail, fail_unclaimed, finish
from tests.factories import make_job


def claimed_job(process_id: int | None = 7, **fields) -> Job:
    job = make_job("claimed", **fields)
    ClaimedExecution.objects.filter(job=job).update(process_id=process_id)
    return job


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as exc:
        return exc


@pytest.mark.django_db
@pytest.mark.parametrize("value", [None, 5, "text", [1, "two"], {"a": [1, None]}])
def test_finish_records_the_return_value(value):
    job = claimed_job()
    assert finish(job, value, process_id=7, using="default") is True
    stored = Job.objects.get(pk=job.pk)
    assert stored.return_value == value and stored.finished_at is not None
    assert job.finished_at == stored.finished_at
    assert not ClaimedExecution.objects.exists()


@pytest.mark.django_db
def test_late_finish_from_another_process_changes_nothing():
    job = claimed_job(process_id=7)
    assert finish(job, 1, process_id=8, using="default") is False
    stored = Job.objects.get(pk=job.pk)
    assert stored.finished_at is None and stored.return_value is None
    assert ClaimedExecution.objects.get().process_id == 7


@pytest.mark.django_db
def test_finish_without_a_claim_changes_nothing():
    job = make_job("ready")
    assert finish(job, 1, process_id=None, using="default") is False
    assert ReadyExecution.objects.filter(job=job).exists()
    assert Job.objects.get(pk=job.pk).finished_at is None


@pytest.mark.django_db
def test_finish_of_a_claim_without_process():
    job = claimed_job(process_id=None)
    assert finish(job, 2, process_id=None, using="default") is True
    assert Job.objects.get(pk=job.pk).return_value == 2


@pytest.mark.django_db
def test_finish_deletes_the_job_when_finished_jobs_are_not_kept():
    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend",
                         "OPTIONS": {"preserve_finished_jobs": False}}}
    with override_settings(TASKS=tasks):
        job, kept = claimed_job(), claimed_job(process_id=9)
        assert finish(job, 1, process_id=7, using="default") is True
        assert finish(kept, 1, process_id=7, using="default") is False
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_fail_keeps_the_error():
    job = claimed_job()
    error = raised(ValueError("bad input"))
    assert fail(job, error, process_id=7, using="default") == "failed"
    failed = FailedExecution.objects.get(job=job)
    assert (failed.exception_class, failed.message, failed.backend_alias) == (
        "builtins.ValueError", "bad input", "default")
    assert "Traceback" in failed.traceback and "raise error" in failed.traceback
    assert failed.traceback.rstrip().endswith("ValueError: bad input")
    assert not ClaimedExecution.objects.exists()
    assert Job.objects.get(pk=job.pk).finished_at is not None


@pytest.mark.django_db
def test_fail_uses_given_traceback_and_qualified_class_path():
    class Nested(Exception):
        pass

    job = claimed_job()
    assert fail(job, Nested("x"), process_id=7, using="default", traceback_text="tb") == "failed"
    failed = FailedExecution.objects.get(job=job)
    assert failed.traceback == "tb"
    test_name = "test_fail_uses_given_traceback_and_qualified_class_path"
    assert failed.exception_class == f"{__name__}.{test_name}.<locals>.Nested"


@pytest.mark.django_db
def test_fail_from_another_process_changes_nothing():
    job = claimed_job(process_id=7)
    assert fail(job, ValueError("late"), process_id=8, using="default") is None
    assert not FailedExecution.objects.exists()
    assert ClaimedExecution.objects.get().process_id == 7


@pytest.mark.django_db
def test_fail_records_the_attempt_once():
    job = claimed_job(process_id=7)
    assert fail(job, ProcessPrunedError("gone"), process_id=7, using="default") == "failed"
    assert FailedExecution.objects.get(job=job).exception_class == "dj_queue.exceptions.ProcessPrunedError"
    assert fail(job, ProcessPrunedError("again"), process_id=7, using="default") is None
    assert FailedExecution.objects.count() == 1
    assert [e["message"] for e in Job.objects.get(pk=job.pk).errors] == ["gone"]


@pytest.mark.django_db
def test_fail_unclaimed_records_a_failure():
    job = Job.objects.create(task_path="tests.tasks_app.tasks.add")
    fail_unclaimed(job, RuntimeError("discarded"), using="default")
    failed = FailedExecution.objects.get(job=job)
    assert (failed.exception_class, failed.message) == ("builtins.RuntimeError", "discarded")
    assert Job.objects.get(pk=job.pk).finished_at is not None


class Recorder:
    def __init__(self, explode: bool = False):
        self.calls = []
        self.explode = explode

    @dj_queue.hookimpl
    def dj_queue_job_failed(self, job, error):
        self.calls.append((job.pk, error))
        if self.explode:
            raise RuntimeError("hook broke")


@pytest.fixture
def register():
    registered = []

    def add(plugin):
        plugins.register(plugin)
        registered.append(plugin)
        return plugin

    yield add
    for plugin in registered:
        plugins.get_plugin_manager().unregister(plugin)


@pytest.mark.django_db
def test_job_failed_hook_gets_job_and_error(register, django_capture_on_commit_callbacks):
    recorder = register(Recorder())
    job, other = claimed_job(), claimed_job(process_id=3)
    error = ValueError("boom")
    with django_capture_on_commit_callbacks(execute=True):
        fail(job, error, process_id=7, using="default")
        fail(other, error, process_id=7, using="default")  # not its claim: no hook
        assert recorder.calls == []  # only after commit
    assert recorder.calls == [(job.pk, error)]


errors_seen: list[BaseException] = []


def record_error(exc: BaseException) -> None:
    errors_seen.append(exc)


@pytest.mark.django_db
def test_a_failing_hook_goes_to_on_thread_error(register, django_capture_on_commit_callbacks):
    broken, after = register(Recorder(explode=True)), register(Recorder())
    errors_seen.clear()
    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend",
                         "OPTIONS": {"on_thread_error": f"{__name__}.record_error"}}}
    with override_settings(TASKS=tasks), django_capture_on_commit_callbacks(execute=True):
        assert fail(claimed_job(), ValueError("x"), process_id=7, using="default")
    assert len(broken.calls) == len(after.calls) == 1
    assert [str(exc) for exc in errors_seen] == ["hook broke"]


@pytest.mark.django_db
def test_finish_many_records_every_outcome_in_one_go_and_skips_lost_claims():
    from dj_queue.models import ClaimedExecution, Job
    from dj_queue.operations.completion import finish_many
    from tests.factories import make_job

    mine = [make_job("claimed") for _ in range(3)]
    ClaimedExecution.objects.filter(job__in=mine).update(process_id=7)
    lost = make_job("claimed")
    ClaimedExecution.objects.filter(job=lost).update(process_id=8)  # pruned and taken over
    outcomes = [(mine[0], None), (mine[1], {"n": 1}), (mine[2], [1, "x"]), (lost, 5)]
    finished = finish_many(outcomes, process_id=7, using="default")
    assert [job.pk for job in finished] == [job.pk for job in mine]
    rows = {job.pk: job for job in Job.objects.all()}
    assert [rows[j.pk].return_value for j in mine] == [None, {"n": 1}, [1, "x"]]
    assert all(rows[j.pk].finished_at is not None for j in mine)
    assert rows[lost.pk].finished_at is None
    assert list(ClaimedExecution.objects.values_list("job_id", flat=True)) == [lost.pk]
    assert finish_many([], process_id=7, using="default") == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["finish", "finish_many", "finish_and_claim"])
@pytest.mark.parametrize("preserve", [True, False])
def test_a_keyed_job_is_finished_and_its_slot_given_back_in_one_transaction(monkeypatch, how, preserve):
    """A failure between the two (here: in the release) leaves the claim, not a finished job
    holding a slot nobody will give back."""
    from dj_queue.operations import claim as claim_ops, completion

    def broken_release(job, *, using):
        raise RuntimeError("connection lost")

    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                         "OPTIONS": {"preserve_finished_jobs": preserve}}}
    with override_settings(TASKS=tasks):
        job, plain = claimed_job(concurrency_key="account:1"), claimed_job()
        monkeypatch.setattr(completion, "release_slot", broken_release)
        with pytest.raises(RuntimeError, match="connection lost"):
            if how == "finish":
                finish(job, 1, process_id=7, using="default")
            elif how == "finish_many":
                completion.finish_many([(job, 1), (plain, 2)], process_id=7, using="default")
            else:
                claim_ops.finish_and_claim(outcomes=[(job, 1), (plain, 2)], backend_alias="default",
                                           using="default", selectors=["*"], limit=1, process_id=7,
                                           worker_id="w")
        assert ClaimedExecution.objects.filter(job_id=job.pk).exists()  # rolled back: recovery's to handle
        assert Job.objects.get(pk=job.pk).finished_at is None
        monkeypatch.undo()
        assert finish(job, 1, process_id=7, using="default") is True
    assert not ClaimedExecution.objects.filter(job_id=job.pk).exists()


@pytest.mark.django_db
def test_a_retry_policy_that_breaks_ends_the_job_failed_instead_of_leaving_it_claimed(caplog):
    from dj_queue.policies import Policy

    job = claimed_job()
    policy = Policy(max_attempts=3, backoff=lambda attempt: None)  # float(None) fails at failure time
    assert fail(job, raised(ValueError("boom")), process_id=7, using="default", policy=policy) == "failed"
    assert FailedExecution.objects.filter(job_id=job.pk).exists()
    assert not ClaimedExecution.objects.filter(job_id=job.pk).exists()
    assert "its retry policy failed" in caplog.text
