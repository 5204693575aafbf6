"""Workflows and progress through real ``manage.py dj_queue`` runtimes on the test database."""

from __future__ import annotations

import pytest

from dj_queue.api import get_progress
from dj_queue.compat import TaskResultStatus
from dj_queue.models import Job, Process, Workflow
from dj_queue.workflows import group, step
from tests.conftest import wait_until
from tests.tasks_app.models import SideEffect
from tests.tasks_app.workflow_tasks import count_in_workspace, report_progress, slow_square, total

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

WORKERS = {"workers": [{"queues": "*", "threads": 3, "processes": 1, "polling_interval": 0.05}]}


def two_runtimes(start_runtime) -> None:
    for _ in range(2):
        start_runtime("async", WORKERS)
    wait_until(lambda: Process.objects.filter(kind="worker").count() == 2, timeout=60,
               message="two workers registered")


def ended(*workflows: Workflow) -> bool:
    return all(w.status != Workflow.Status.RUNNING for w in Workflow.objects.filter(pk__in=[w.pk for w in workflows]))


def test_a_group_of_ten_fires_its_callback_exactly_once_with_two_runtimes_racing(start_runtime):
    two_runtimes(start_runtime)
    # Several groups: each is a chance for two runtimes to finish its last two members together.
    flows = [group(*[step(slow_square, n, 0.1) for n in range(10)], on_success=step(total, f"callback-{g}"))
             for g in range(3)]
    workflows = [flow.enqueue() for flow in flows]
    wait_until(lambda: ended(*workflows), timeout=120, message="the groups and their callbacks finished")
    for g, workflow in enumerate(workflows):
        workflow.refresh_from_db()
        assert workflow.status == Workflow.Status.SUCCEEDED
        assert SideEffect.objects.filter(key=f"callback-{g}").count() == 1
    callbacks = Job.objects.filter(task_path=total.module_path)
    assert callbacks.count() == 3  # exactly once each: a second start would be a second job
    assert {job.return_value for job in callbacks} == {sum(n * n for n in range(10))}


def test_parallel_steps_on_two_runtimes_lose_no_workspace_update(start_runtime):
    two_runtimes(start_runtime)
    workflow = group(*[step(count_in_workspace, f"s{n}") for n in range(12)]).enqueue(workspace={"count": 0})
    wait_until(lambda: ended(workflow), timeout=120, message="the workspace group finished")
    workflow.refresh_from_db()
    assert workflow.status == Workflow.Status.SUCCEEDED
    assert workflow.workspace["count"] == 12
    assert sorted(workflow.workspace["names"]) == sorted(f"s{n}" for n in range(12))


def test_progress_is_readable_from_another_process_while_the_task_runs(start_runtime):
    start_runtime("async", WORKERS)
    result = report_progress.enqueue("release-progress")
    wait_until(lambda: get_progress(result.id)["progress"] == 50, timeout=60, message="progress at 50")
    assert get_progress(result.id) == {"progress": 50.0, "metadata": {"stage": "halfway"}}
    assert report_progress.get_result(result.id).status == TaskResultStatus.RUNNING
    SideEffect.objects.create(key="release-progress")
    wait_until(lambda: report_progress.get_result(result.id).is_finished, timeout=60, message="task finished")
    assert report_progress.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    assert get_progress(result.id) == {"progress": 100.0, "metadata": {"stage": "done"}}
