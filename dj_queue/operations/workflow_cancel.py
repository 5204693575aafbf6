"""Cancelling a workflow: its steps not started end cancelled, its waiting jobs are cancelled.

Apart from ``operations/workflows.py`` because it cancels jobs through ``operations/jobs.py``,
which sits above ``completion.py``, which advances workflows: the layers stay one-way.
"""

from __future__ import annotations

from django.utils import timezone

from dj_queue import plugins
from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.exceptions import NotCancellableError
from dj_queue.models import Job, Workflow, WorkflowStep
from dj_queue.operations import jobs
from dj_queue.operations.workflows import Status, Tree, locked_workflow


def cancel(workflow_id: int, using: str) -> int:
    """Cancel a workflow: steps not started end CANCELLED, enqueued jobs are cancelled, running
    ones asked to stop. Returns how many steps it cancelled or asked to stop.

    ``NotCancellableError`` when the workflow already ended.
    """
    # Completions lock their job, then the workflow: take the step jobs first, in the same order.
    job_ids = WorkflowStep.objects.using(using).filter(workflow_id=workflow_id, job_id__isnull=False)
    list(plugins.get_dialect(using).lock(Job.objects.using(using).filter(
        pk__in=list(job_ids.values_list("job_id", flat=True))).order_by("pk"), "", skip_locked=False).values_list("pk"))
    workflow = locked_workflow(workflow_id, using)
    if workflow is None:
        raise Workflow.DoesNotExist(f"no workflow {workflow_id}")
    if workflow.status != Workflow.Status.RUNNING:
        raise NotCancellableError(f"workflow {workflow_id} already ended ({workflow.status})")
    tree = Tree(workflow, using)
    now = timezone.now()
    tree.workflow.status, tree.workflow.finished_at, tree.workflow_changed = Workflow.Status.CANCELLED, now, True
    tree.save()  # first: the jobs cancelled below see a cancelled workflow and start nothing
    count, gone = 0, set()
    for node in tree.steps.values():
        if node.kind == WorkflowStep.Kind.TASK and node.status == Status.RUNNING and node.job_id:
            try:
                jobs.cancel(node.job_id, backend_alias=workflow.backend_alias, using=using)
                count += 1
            except NotCancellableError:  # finished at this moment; its completion is recorded
                pass
            except TaskResultDoesNotExist:  # its job was deleted: nothing to stop, the step ends below
                gone.add(node.pk)
    tree = Tree(workflow, using)  # reload: cancelled jobs updated their steps
    for node in tree.steps.values():
        if (node.status == Status.WAITING or (node.kind != WorkflowStep.Kind.TASK and node.status == Status.RUNNING)
                or (node.pk in gone and node.status == Status.RUNNING)):
            tree.set(node, status=Status.CANCELLED, finished_at=now)
            count += node.kind == WorkflowStep.Kind.TASK
    tree.save()
    return count
