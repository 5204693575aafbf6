"""Workflow transitions: start a workflow, advance it when a step's job ends, cancel it, and
update its workspace.

Every transition locks the workflow row first (``SELECT ... FOR UPDATE``; SQLite's write
transaction serialises writers anyway) and runs inside the caller's transaction: advancing
happens in the same transaction as the step's completion, so a crash never loses or doubles it,
and two steps of one group finishing at once count down one after the other (the callback
starts exactly once).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable

from django.utils import timezone

from dj_queue import plugins
from dj_queue.compat import TaskResultStatus
from dj_queue.exceptions import EnqueueError, TaskResolutionError
from dj_queue.models import Job, Workflow, WorkflowStep
from dj_queue.resolution import resolve_task

logger = logging.getLogger("dj_queue.operations")
Status = WorkflowStep.Status
# A group's children in start order: members first, then its callbacks.
ROLE_ORDER = {"member": 0, "on_success": 1, "on_finish": 2}
DONE = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}


class Tree:
    """One workflow's steps, loaded under the workflow's lock; ``save`` writes what changed."""

    def __init__(self, workflow: Workflow, using: str) -> None:
        self.workflow, self.using = workflow, using
        self.steps = {s.pk: s for s in WorkflowStep.objects.using(using).filter(workflow=workflow)}
        self.children: dict[int | None, list[WorkflowStep]] = defaultdict(list)
        for s in sorted(self.steps.values(), key=lambda s: (ROLE_ORDER.get(s.role, 9), s.position)):
            self.children[s.parent_id].append(s)
        self.changed: set[int] = set()
        self.workflow_changed = False

    def members(self, node: WorkflowStep) -> list[WorkflowStep]:
        return [s for s in self.children[node.pk] if s.role == "member"]

    def callback(self, node: WorkflowStep, role: str) -> WorkflowStep | None:
        return next((s for s in self.children[node.pk] if s.role == role), None)

    def set(self, node: WorkflowStep, **values: Any) -> None:
        for name, value in values.items():
            setattr(node, name, value)
        self.changed.add(node.pk)

    def save(self) -> None:
        fields = ["status", "job_id", "return_value", "finished_at"]
        for pk in sorted(self.changed):
            self.steps[pk].save(using=self.using, update_fields=fields)
        if self.workflow_changed:
            self.workflow.save(using=self.using, update_fields=["status", "finished_at"])


def locked_workflow(workflow_id: int, using: str) -> Workflow | None:
    """The workflow row, locked until the caller's transaction ends."""
    rows = Workflow.objects.using(using).filter(pk=workflow_id)
    return plugins.get_dialect(using).lock(rows, "", skip_locked=False).first()


def lock_workflow_of(job: Job, using: str) -> None:
    """Lock the workflow of a step's job (before a semaphore: the order every path takes)."""
    step = WorkflowStep.objects.using(using).filter(pk=job.workflow_step_id).values_list("workflow_id").first()
    if step is not None:
        locked_workflow(step[0], using)


def start(workflow: Workflow, using: str) -> None:
    """Start a new workflow's root step (inside the transaction that created it)."""
    tree = Tree(workflow, using)
    _start(tree, tree.children[None][0], None, has_input=False)
    tree.save()


def step_ended(job: Job, using: str, *, succeeded: bool, value: Any = None) -> None:
    """The job of a workflow step ended for good: record it and start what comes next.

    Called inside the completion's transaction; a job that is not its step's current job (ended
    twice, or a stale id) changes nothing.
    """
    step = WorkflowStep.objects.using(using).filter(pk=job.workflow_step_id).values_list("workflow_id").first()
    workflow = locked_workflow(step[0], using) if step else None
    if workflow is None:
        return
    tree = Tree(workflow, using)
    node = tree.steps.get(job.workflow_step_id)
    if node is None or node.job_id != job.pk or node.status != Status.RUNNING:
        return
    if workflow.status == Workflow.Status.CANCELLED:
        tree.set(node, status=Status.SUCCEEDED if succeeded else Status.CANCELLED,
                 return_value=value, finished_at=timezone.now())
    else:
        _done(tree, node, succeeded, value)
    tree.save()


def update_workspace(workflow_id: int, change: Callable[[Any], Any], using: str) -> Any:
    """Apply ``change`` to the locked workspace and store its result; return the new workspace."""
    workflow = locked_workflow(workflow_id, using)
    if workflow is None:
        raise Workflow.DoesNotExist(f"no workflow {workflow_id}")
    workflow.workspace = change(workflow.workspace)
    workflow.save(using=using, update_fields=["workspace"])
    return workflow.workspace


def _start(tree: Tree, node: WorkflowStep, value: Any, *, has_input: bool) -> None:
    """Start ``node``: enqueue its job, or start its first (chain) or every (group) member."""
    tree.set(node, status=Status.RUNNING)
    if node.kind == WorkflowStep.Kind.TASK:
        _enqueue(tree, node, [value, *node.args] if has_input else list(node.args))
    elif node.kind == WorkflowStep.Kind.CHAIN:
        _start(tree, tree.members(node)[0], value, has_input=has_input)
    else:
        for member in tree.members(node):
            _start(tree, member, value, has_input=has_input)


def _enqueue(tree: Tree, node: WorkflowStep, args: list) -> None:
    """Enqueue a task step's job; a step that cannot be enqueued (its task is gone, the value
    passed on is not JSON...) fails like a failed job, without undoing the completion that led here."""
    started = timezone.now()
    try:
        task = resolve_task(node.task_path).using(queue_name=node.queue_name, priority=node.priority,
                                                  backend=tree.workflow.backend_alias)
        result = task.enqueue(*args, **node.kwargs)
    except (EnqueueError, TaskResolutionError) as exc:
        logger.warning("dj_queue: workflow %s step %s could not be enqueued: %s", tree.workflow.pk, node.pk, exc)
        _done(tree, node, False, None)
        return
    # Only a job this call created becomes the step's: a @unique task returns the live job holding
    # its key instead, which may be running already or be another step's, and would never end this one.
    if not Job.objects.using(tree.using).filter(pk=int(result.id), workflow_step_id=None,
                                                enqueued_at__gte=started).update(workflow_step_id=node.pk):
        logger.warning("dj_queue: workflow %s step %s failed: its task %s is @unique and job %s already holds "
                       "the key; a workflow step needs a job of its own", tree.workflow.pk, node.pk,
                       node.task_path, result.id)
        _done(tree, node, False, None)
        return
    tree.set(node, job_id=int(result.id))
    if result.status == TaskResultStatus.FAILED:  # a concurrency limit discarded it at once
        _done(tree, node, False, None)


def _done(tree: Tree, node: WorkflowStep, succeeded: bool, value: Any) -> None:
    """``node`` ended: record it and move its parent on."""
    tree.set(node, status=Status.SUCCEEDED if succeeded else Status.FAILED,
             return_value=value if succeeded else None, finished_at=timezone.now())
    parent = tree.steps.get(node.parent_id) if node.parent_id else None
    if parent is None:
        status = Workflow.Status.SUCCEEDED if succeeded else Workflow.Status.FAILED
        tree.workflow.status, tree.workflow.finished_at, tree.workflow_changed = status, timezone.now(), True
    elif parent.kind == WorkflowStep.Kind.CHAIN:
        _chain_moved(tree, parent, node, succeeded, value)
    elif node.role == "member":
        _group_counted(tree, parent)
    elif node.role == "on_success":
        _done(tree, parent, succeeded, value)
    # an on_finish callback's own outcome stays on its step


def _chain_moved(tree: Tree, chain: WorkflowStep, node: WorkflowStep, succeeded: bool, value: Any) -> None:
    later = [s for s in tree.members(chain) if s.position > node.position]
    if succeeded and later:
        _start(tree, later[0], value, has_input=True)
        return
    for skipped in later:  # a failed step stops its chain: the rest never runs
        _cancel_waiting(tree, skipped)
    _done(tree, chain, succeeded, value)


def _group_counted(tree: Tree, group: WorkflowStep) -> None:
    """A member ended; when it was the last one, start the callbacks (under the workflow lock, so once)."""
    members = tree.members(group)
    if any(m.status not in DONE for m in members):
        return
    succeeded = all(m.status == Status.SUCCEEDED for m in members)
    results = [m.return_value for m in members]
    on_finish, on_success = tree.callback(group, "on_finish"), tree.callback(group, "on_success")
    if on_finish is not None:
        _start(tree, on_finish, [{"status": str(m.status), "value": m.return_value} for m in members], has_input=True)
    if on_success is not None and succeeded:
        _start(tree, on_success, results, has_input=True)  # the group ends with its callback
        return
    if on_success is not None:
        _cancel_waiting(tree, on_success)
    _done(tree, group, succeeded, results if succeeded else None)


def _cancel_waiting(tree: Tree, node: WorkflowStep) -> None:
    tree.set(node, status=Status.CANCELLED, finished_at=timezone.now())
    for child in tree.children[node.pk]:
        _cancel_waiting(tree, child)
