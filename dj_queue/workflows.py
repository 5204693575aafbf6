"""Workflows on the database: ``chain`` (steps one after another, each return value passed on),
``group`` (steps in parallel, then an ``on_success`` / ``on_finish`` callback), a JSON workspace
the steps share, and ``cancel_workflow``. See docs/workflows.md.

>>> from dj_queue.workflows import chain, group, step
>>> flow = chain(step(fetch, url), group(step(resize, 100), step(resize, 200), on_success=step(publish)))
>>> workflow = flow.enqueue(workspace={"seen": 0})

Passing values on: a step that follows another gets the previous step's return value prepended
as its FIRST positional argument (after the ``TaskContext`` of a ``takes_context`` task). A group
gives each member its input the same way; its callbacks get a list, one entry per member in
order: ``on_success`` the return values, ``on_finish`` ``{"status", "value"}`` dicts. A group's
value (what the step after it receives) is its ``on_success`` callback's return value, or the
list of its members' return values when it has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from dj_queue import plugins
from dj_queue.compat import Task, TaskResultDoesNotExist
from dj_queue.config import database_for
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Workflow, WorkflowStep
from dj_queue.operations import workflows as operations
from dj_queue.operations.workflow_cancel import cancel as cancel_steps
from dj_queue.results import job_pk
from dj_queue.resolution import task_path_for

__all__ = ["Chain", "Group", "Step", "Workflow", "cancel_workflow", "chain", "group", "step",
           "update_workspace", "workspace"]

# Bytes of workspace JSON a workflow may hold: it is read and rewritten whole on each update.
WORKSPACE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Step:
    """One call of a task inside a workflow: ``step(task, *args, **kwargs)``."""

    task: Task
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Flow:
    steps: tuple

    def enqueue(self, *, workspace: Any = None, name: str = "") -> Workflow:
        """Store the workflow and start it, in one transaction; return its ``Workflow`` row."""
        return _enqueue(self, workspace=workspace, name=name)


@dataclass(frozen=True)
class Chain(_Flow):
    """Steps run one after another; a failed step stops the chain."""


@dataclass(frozen=True)
class Group(_Flow):
    """Steps run in parallel; ``on_success`` once all succeeded, ``on_finish`` once all ended."""

    on_success: Any = None
    on_finish: Any = None


Node = Union[Step, Chain, Group]


def step(task: Task, *args: Any, **kwargs: Any) -> Step:
    """A step calling ``task(*args, **kwargs)`` (plus the previous step's value, first)."""
    if not isinstance(task, Task):
        raise EnqueueError(f"dj_queue: step() takes a @task, not {task!r} (decorate the function with @task "
                           "and pass the task object)")
    return Step(task, args, kwargs)


def chain(*steps: Any) -> Chain:
    """Steps (``step(...)``, ``(task, args, kwargs)`` tuples, tasks, groups, chains) in sequence."""
    return Chain(tuple(_node(s) for s in _non_empty(steps, "chain")))


def group(*steps: Any, on_success: Any = None, on_finish: Any = None) -> Group:
    """Steps in parallel, with optional callbacks given the members' results (see module doc)."""
    return Group(tuple(_node(s) for s in _non_empty(steps, "group")),
                 on_success=None if on_success is None else _node(on_success),
                 on_finish=None if on_finish is None else _node(on_finish))


def workspace(context_or_job_id: Any) -> Any:
    """The workspace of the workflow the running job belongs to (``None`` when it has none)."""
    workflow_id, using = _workflow_of(context_or_job_id)
    return Workflow.objects.using(using).filter(pk=workflow_id).values_list("workspace", flat=True).first()


def update_workspace(context_or_job_id: Any, change: Callable[[Any], Any] | dict) -> Any:
    """Update the workspace atomically and return it: ``change`` is a function of the current
    workspace returning the new one, or a dict merged into it (top-level keys).

    The workflow row stays locked while ``change`` runs, so parallel steps lose no update; keep
    ``change`` quick and free of side effects.
    """
    if isinstance(change, dict):
        patch = change
        change = lambda current: {**(current or {}), **patch}  # noqa: E731
    elif not callable(change):
        raise EnqueueError(f"dj_queue: update_workspace takes a function or a dict, not {change!r}")
    workflow_id, using = _workflow_of(context_or_job_id)
    with plugins.get_dialect(using).write_transaction(using):
        return operations.update_workspace(workflow_id, lambda current: _checked(change(current)), using)


def cancel_workflow(workflow_id: int, *, backend_alias: str = "default") -> int:
    """Cancel a running workflow: steps not started yet never run, waiting jobs end cancelled,
    running ones are asked to stop (``dj_queue.api.cancel``). Returns how many task steps it
    cancelled or asked to stop; ``NotCancellableError`` when the workflow already ended."""
    using = database_for(backend_alias)
    with plugins.get_dialect(using).write_transaction(using):
        try:
            pk = job_pk(workflow_id)  # the same digits rule as job ids
        except TaskResultDoesNotExist:
            raise Workflow.DoesNotExist(f"no workflow {workflow_id!r}") from None
        return cancel_steps(pk, using)


def _enqueue(flow: Node, *, workspace: Any, name: str) -> Workflow:
    tasks = list(_tasks(flow))
    alias = tasks[0].backend
    if any(task.backend != alias for task in tasks):
        raise EnqueueError("dj_queue: every step of a workflow must use the same backend")
    using = database_for(alias)
    for task, args, kwargs in _calls(flow):
        backend = task.get_backend()
        if not getattr(backend, "is_dj_queue_backend", False):
            raise EnqueueError(f"dj_queue: workflows need a dj_queue backend, not {type(backend).__name__}")
        backend.validate_task(task)
        # Not the signature: a step after the first gets the previous step's value as well.
        backend.validate_arguments(task, list(args), kwargs, check_signature=False)
    with plugins.get_dialect(using).write_transaction(using):
        workflow = Workflow.objects.using(using).create(backend_alias=alias, name=str(name or "")[:255],
                                                        workspace=_checked(workspace))
        _store(flow, workflow, None, 0, "member", using)
        operations.start(workflow, using)
    return workflow


def _store(node: Node, workflow: Workflow, parent: WorkflowStep | None, position: int, role: str,
           using: str) -> None:
    common = {"workflow": workflow, "parent": parent, "position": position, "role": role}
    if isinstance(node, Step):
        WorkflowStep.objects.using(using).create(
            kind=WorkflowStep.Kind.TASK, task_path=task_path_for(node.task), queue_name=node.task.queue_name,
            priority=node.task.priority, args=list(node.args), kwargs=dict(node.kwargs), **common)
        return
    kind = WorkflowStep.Kind.CHAIN if isinstance(node, Chain) else WorkflowStep.Kind.GROUP
    row = WorkflowStep.objects.using(using).create(kind=kind, **common)
    for index, child in enumerate(node.steps):
        _store(child, workflow, row, index, "member", using)
    for role in ("on_success", "on_finish"):
        callback = getattr(node, role, None)
        if callback is not None:
            _store(callback, workflow, row, 0, role, using)


def _calls(node: Node):
    if isinstance(node, Step):
        yield node.task, node.args, node.kwargs
        return
    for child in [*node.steps, getattr(node, "on_success", None), getattr(node, "on_finish", None)]:
        if child is not None:
            yield from _calls(child)


def _tasks(node: Node):
    return (task for task, _, _ in _calls(node))


def _node(value: Any) -> Node:
    if isinstance(value, (Step, Chain, Group)):
        return value
    if isinstance(value, Task):
        return Step(value)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], Task):
        task, args, kwargs = value
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise EnqueueError(f"dj_queue: a step tuple is (task, args, kwargs), got {value!r}")
        return Step(task, tuple(args), dict(kwargs))
    raise EnqueueError(f"dj_queue: a workflow step is step(task, ...), a (task, args, kwargs) tuple, a task, "
                       f"a chain or a group, not {value!r}")


def _non_empty(steps: tuple, kind: str) -> tuple:
    if not steps:
        raise EnqueueError(f"dj_queue: a {kind} needs at least one step")
    return steps


def _checked(value: Any) -> Any:
    """The workspace as stored: JSON, and small."""
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and the database's JSON column refuses them.
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EnqueueError(f"dj_queue: a workflow workspace must be JSON-serialisable: {exc}") from None
    if len(text.encode()) > WORKSPACE_MAX_BYTES:
        raise EnqueueError(f"dj_queue: a workflow workspace is limited to {WORKSPACE_MAX_BYTES} bytes of JSON")
    return value


def _workflow_of(context_or_job_id: Any) -> tuple[int, str]:
    """``(workflow id, database alias)`` of the job a ``TaskContext`` or job id names."""
    result = getattr(context_or_job_id, "task_result", None)
    try:
        job_id = job_pk(result.id if result is not None else context_or_job_id)
    except TaskResultDoesNotExist:
        raise EnqueueError(f"dj_queue: job {context_or_job_id!r} is not a step of a workflow") from None
    using = database_for(getattr(result, "backend", None) or "default")
    workflow_id = (WorkflowStep.objects.using(using).filter(job_id=job_id)
                   .values_list("workflow_id", flat=True).first())
    if workflow_id is None:
        raise EnqueueError(f"dj_queue: job {job_id} is not a step of a workflow")
    return workflow_id, using
