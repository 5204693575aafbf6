"""``dj_queue.workflows``: chains, groups and callbacks, the workspace, failures and cancel."""

from __future__ import annotations

import pytest

from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.exceptions import EnqueueError, NotCancellableError
from dj_queue.models import Job, ReadyExecution, Workflow, WorkflowStep
from dj_queue.operations import processes
from dj_queue.operations.claim import claim
from dj_queue.operations.completion import finish_many
from dj_queue.operations.execute import execute
from dj_queue.workflows import cancel_workflow, chain, group, step, update_workspace, workspace
from tests.tasks_app.models import SideEffect
from tests.tasks_app.workflow_tasks import add, boom, boom_twice, count_in_workspace, square, statuses, total

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    return processes.register(kind="worker", backend_alias="default", using="default")


def work_off(worker, *, batch: int = 1, rounds: int = 100) -> int:
    """Claim and run ready jobs as ``worker`` until none are left; return how many ran."""
    ran = 0
    for _ in range(rounds):
        claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=batch,
                        process_id=worker.pk, worker_id=worker.name)
        if not claimed:
            return ran
        for job in claimed:
            execute(job, backend=task_backends["default"], process_id=worker.pk, using="default")
        ran += len(claimed)
    raise AssertionError("jobs kept coming")


def steps_of(workflow: Workflow) -> list[tuple[str, str, str]]:
    """``(kind, task name, status)`` of every step, in creation order."""
    return [(s.kind, s.task_path.rsplit(".", 1)[-1], s.status)
            for s in WorkflowStep.objects.filter(workflow=workflow).order_by("pk")]


def test_a_chain_of_three_passes_each_value_on_as_the_first_argument(worker):
    workflow = chain(step(add, 1, 2), step(add, 10), (add, [100], {})).enqueue()
    assert ReadyExecution.objects.count() == 1  # only the first step is enqueued
    assert work_off(worker) == 3
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED and workflow.finished_at is not None
    jobs = Job.objects.filter(workflow_step_id__isnull=False).order_by("pk")
    assert [job.args for job in jobs] == [[1, 2], [3, 10], [13, 100]]
    assert [job.return_value for job in jobs] == [3, 13, 113]
    assert [status for _, _, status in steps_of(workflow)] == ["succeeded"] * 4


def test_a_group_of_ten_runs_its_callback_once_with_every_result_in_order(worker):
    flow = group(*[step(square, n) for n in range(10)], on_success=step(total, "callback"))
    workflow = flow.enqueue()
    assert ReadyExecution.objects.count() == 10
    work_off(worker, batch=4)  # finished in batches: the worker's completion path
    assert SideEffect.objects.filter(key="callback").count() == 1
    callback = Job.objects.get(task_path=total.module_path)
    assert callback.args == [[n * n for n in range(10)], "callback"]
    assert callback.return_value == sum(n * n for n in range(10))
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED


def test_a_batch_finish_advances_workflow_steps_and_plain_jobs_alike(worker):
    workflow = chain(step(add, 1, 1), step(add, 1)).enqueue()
    plain = add.enqueue(5, 5)
    claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=5,
                    process_id=worker.pk, worker_id=worker.name)
    done = finish_many([(job, 2 if job.workflow_step_id else 10) for job in claimed], process_id=worker.pk,
                       using="default")
    assert sorted(job.pk for job in done) == sorted(job.pk for job in claimed)
    assert add.get_result(plain.id).status == TaskResultStatus.SUCCESSFUL
    second = Job.objects.filter(workflow_step_id__isnull=False).latest("pk")
    assert second.args == [2, 1]
    work_off(worker)
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED


def test_a_chain_containing_a_group_feeds_the_group_and_its_callback_on(worker):
    flow = chain(step(add, 1, 1), group(step(add, 10), step(add, 20), on_success=step(total, "sum")),
                 step(add, 1000))
    workflow = flow.enqueue()
    work_off(worker)
    last = Job.objects.filter(workflow_step_id__isnull=False).latest("pk")
    assert last.args == [(2 + 10) + (2 + 20), 1000] and last.return_value == 1034
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED


def test_a_group_without_callback_passes_the_list_of_results_on(worker):
    workflow = chain(group(step(add, 1, 1), chain(step(add, 2, 2), step(square))), step(total, "k")).enqueue()
    work_off(worker)
    assert Job.objects.get(task_path=total.module_path).args == [[2, 16], "k"]
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED


def test_a_failed_step_stops_its_chain_and_the_rest_never_runs(worker):
    workflow = chain(step(add, 1, 2), step(boom), step(add, 1), step(add, 2)).enqueue()
    assert work_off(worker) == 2
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED
    assert steps_of(workflow) == [("chain", "", "failed"), ("task", "add", "succeeded"), ("task", "boom", "failed"),
                                  ("task", "add", "cancelled"), ("task", "add", "cancelled")]
    assert Job.objects.count() == 2  # the cancelled steps never got a job


def test_a_failed_member_fails_the_group_runs_on_finish_and_skips_on_success(worker):
    flow = group(step(add, 1, 1), step(boom), on_success=step(total, "never"), on_finish=step(statuses))
    workflow = flow.enqueue()
    work_off(worker)
    assert not SideEffect.objects.filter(key="never").exists()
    assert Job.objects.get(task_path=statuses.module_path).return_value == ["succeeded", "failed"]
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED


def test_parallel_steps_updating_the_workspace_lose_no_update(worker):
    workflow = group(*[step(count_in_workspace, f"s{n}") for n in range(8)]).enqueue(workspace={"count": 0})
    work_off(worker, batch=8)
    workflow.refresh_from_db()
    assert workflow.workspace["count"] == 8
    assert sorted(workflow.workspace["names"]) == sorted(f"s{n}" for n in range(8))


def test_workspace_reads_and_merges_through_a_job_id(worker):
    chain(step(add, 1, 1)).enqueue(workspace={"a": 1})
    job = Job.objects.get()
    assert workspace(job.pk) == {"a": 1}
    assert update_workspace(job.pk, {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(EnqueueError, match="JSON"):
        update_workspace(job.pk, {"bad": object()})
    assert workspace(job.pk) == {"a": 1, "b": 2}


def test_cancel_workflow_cancels_its_waiting_steps(worker):
    workflow = chain(group(step(add, 1, 1), step(add, 2, 2)), step(add, 3), step(add, 4)).enqueue()
    assert cancel_workflow(workflow.pk) == 4  # two waiting jobs, two steps never started
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.CANCELLED
    assert not ReadyExecution.objects.exists() and work_off(worker) == 0
    assert {status for kind, _, status in steps_of(workflow) if kind == "task"} == {"cancelled"}
    for job in Job.objects.all():
        assert add.get_result(str(job.pk)).status == TaskResultStatus.FAILED
    with pytest.raises(NotCancellableError):
        cancel_workflow(workflow.pk)


@pytest.mark.parametrize("bad, message", [
    ((), "at least one step"),
    ((object(),), "a workflow step is"),
    (((add, 1, {}),), "task, args, kwargs"),
])
def test_bad_steps_raise_enqueue_error(bad, message):
    with pytest.raises(EnqueueError, match=message):
        chain(*bad)


def test_bad_arguments_and_workspace_raise_before_anything_is_written():
    with pytest.raises(EnqueueError):
        chain(step(add, object())).enqueue()
    with pytest.raises(EnqueueError, match="JSON"):
        chain(step(add, 1, 2)).enqueue(workspace={"x": object()})
    assert not Workflow.objects.exists() and not Job.objects.exists()


def test_plain_jobs_finish_and_claim_without_touching_workflow_tables(worker):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dj_queue.operations.claim import finish_and_claim

    for n in range(3):
        add.enqueue(n, n)
    claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=2,
                    process_id=worker.pk, worker_id=worker.name)
    with CaptureQueriesContext(connection) as queries:
        done, more = finish_and_claim(outcomes=[(job, 0) for job in claimed], backend_alias="default",
                                      using="default", selectors=["*"], limit=2, process_id=worker.pk,
                                      worker_id=worker.name)
    assert len(done) == 2 and len(more) == 1
    assert not [q["sql"] for q in queries.captured_queries if "dj_queue_workflow" in q["sql"]]


def test_a_chain_advances_when_finished_jobs_are_not_kept(worker):
    from django.test import override_settings

    tasks = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend",
                         "OPTIONS": {"preserve_finished_jobs": False}}}
    with override_settings(TASKS=tasks):
        workflow = chain(step(add, 1, 2), step(add, 10)).enqueue()
        assert work_off(worker) == 2
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED and not Job.objects.exists()
    assert [s.return_value for s in WorkflowStep.objects.filter(kind="task").order_by("pk")] == [3, 13]


def test_a_step_retried_by_its_policy_advances_only_on_its_final_outcome(worker):
    workflow = chain(step(boom_twice), step(add, 1)).enqueue()
    assert work_off(worker) == 2  # two attempts of the failing step, nothing after it
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED
    assert len(Job.objects.get().errors) == 2


def test_clearing_a_queue_that_holds_a_step_fails_the_step_and_its_workflow_moves_on(worker):
    from dj_queue.api import QueueInfo

    workflow = chain(step(add, 1, 2), step(add, 10)).enqueue()
    first = Job.objects.get()
    assert QueueInfo(first.queue_name).clear() == 1
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED  # not RUNNING forever, waiting on a deleted job
    assert steps_of(workflow) == [("chain", "", "failed"), ("task", "add", "failed"), ("task", "add", "cancelled")]
    assert work_off(worker) == 0


def test_cancel_workflow_survives_a_step_whose_job_was_deleted(worker):
    workflow = group(step(add, 1, 1), step(add, 2, 2)).enqueue()
    gone = Job.objects.order_by("pk").first()
    Job.objects.filter(pk=gone.pk).delete()  # behind dj_queue's back: the ORM, a manual DELETE
    assert cancel_workflow(workflow.pk) == 2
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.CANCELLED
    assert {status for kind, _, status in steps_of(workflow) if kind == "task"} == {"cancelled"}


def test_a_step_its_concurrency_limit_discards_fails_at_once(worker):
    from tests.tasks_app.tasks import exclusive  # limit 1 per name, on_conflict="discard"

    workflow = group(step(exclusive, "x", 0), step(exclusive, "x", 0)).enqueue()
    assert work_off(worker) == 1  # the second member was discarded when enqueued
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED
    assert sorted(status for kind, _, status in steps_of(workflow) if kind == "task") == ["failed", "succeeded"]


def test_a_unique_step_whose_key_another_job_holds_fails_instead_of_taking_that_job(worker, caplog):
    from tests.tasks_app.hooked_tasks import unique_report

    workflow = group(step(unique_report, 5), step(unique_report, 5)).enqueue()
    assert Job.objects.count() == 1
    assert Job.objects.get().workflow_step_id is not None  # the first member's, not overwritten
    assert "already holds the key" in caplog.text
    assert work_off(worker) == 1
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED  # ended: neither member waits forever
    assert sorted(status for kind, _, status in steps_of(workflow) if kind == "task") == ["failed", "succeeded"]


def test_a_step_whose_call_does_not_fit_its_function_fails_when_its_turn_comes(worker, caplog):
    workflow = chain(step(add, 1, 2), step(add, 10, 20)).enqueue()  # the second gets 3 arguments: 3, 10, 20
    assert work_off(worker) == 1
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.FAILED
    assert "too many positional arguments" in caplog.text


def test_misused_workflow_calls_raise_clear_errors():
    with pytest.raises(EnqueueError, match="step\\(\\) takes a @task"):
        step(add.func, 1)
    with pytest.raises(EnqueueError, match="workspace must be JSON-serialisable"):
        chain(step(add, 1, 2)).enqueue(workspace={"d": float("nan")})
    for bad in ("abc", None, -1, 10**30):
        with pytest.raises(Workflow.DoesNotExist):
            cancel_workflow(bad)
        with pytest.raises(EnqueueError, match="is not a step of a workflow"):
            workspace(bad)
    assert chain(step(add, 1, 2)).enqueue(name=None).name == ""
    assert not Workflow.objects.filter(name="None").exists()


def test_a_step_frees_its_concurrency_slot_before_the_next_step_of_its_key_starts(worker):
    from tests.tasks_app.workflow_tasks import serial_add  # limit 1 on one key, the rest discarded

    workflow = chain(step(serial_add, 1, 2), step(serial_add, 10), step(serial_add, 100)).enqueue()
    assert work_off(worker) == 3
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED  # no step found its predecessor's slot taken
    assert Job.objects.order_by("-pk").first().return_value == 113
