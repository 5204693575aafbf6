"""The dashboard's workflow pages (list, one workflow with its steps) and a job's live progress."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from dj_queue.dashboard.backends import selected_backend
from dj_queue.dashboard.redaction import backend_keys, mask
from dj_queue.dashboard.tables import Column, Table
from dj_queue.dashboard.views import VIEW_PERMISSION, _context, _require
from dj_queue.models import Job, Workflow, WorkflowStep
from dj_queue.operations.workflows import ROLE_ORDER

WORKFLOW_COLUMNS = [Column("Workflow", "pk"), Column("Name", "name"), Column("Status", "status"),
                    Column("Created", "created_at"), Column("Finished", "finished_at")]


def workflows(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """Workflows of the backend, newest first, optionally of one ``?status=``."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    rows = Workflow.objects.using(backend.using).filter(backend_alias=backend.alias)
    status = request.GET.get("status", "")
    if status:
        rows = rows.filter(status=status)
    table = Table(request, "workflows", WORKFLOW_COLUMNS, rows, default="-pk", per_page=50)
    table.rows = list(table.page.object_list)
    return TemplateResponse(request, "dj_queue/workflows.html", _context(
        request, site, backend, "Workflows", table=table, status=status, statuses=Workflow.Status.values))


def workflow_detail(request: HttpRequest, site: AdminSite, workflow_id: int) -> HttpResponse:
    """One workflow: its status, workspace and every step (indented as nested) with its job."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    workflow = Workflow.objects.using(backend.using).filter(pk=workflow_id, backend_alias=backend.alias).first()
    if workflow is None:
        raise Http404(f"no workflow {workflow_id} in backend {backend.alias!r}")
    steps = list(WorkflowStep.objects.using(backend.using).filter(workflow=workflow))
    # The backend's redact_keys hide secrets in the shared workspace as they do in arguments.
    workspace = mask(workflow.workspace, backend_keys(backend.alias))
    return TemplateResponse(request, "dj_queue/workflow.html", _context(
        request, site, backend, f"Workflow {workflow.pk}", workflow=workflow, workspace=workspace,
        steps=step_rows(steps)))


def job_progress(request: HttpRequest, site: AdminSite, job_id: int) -> HttpResponse:
    """``{"progress", "metadata", "finished"}`` of a job: the job page polls it while the job runs."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    row = (Job.objects.using(backend.using).filter(pk=job_id, backend_alias=backend.alias)
           .values_list("progress", "progress_metadata", "finished_at").first())
    if row is None:
        raise Http404(f"no job {job_id} in backend {backend.alias!r}")
    return JsonResponse({"progress": row[0], "metadata": row[1], "finished": row[2] is not None})


def step_rows(steps: list[WorkflowStep]) -> list[tuple[int, WorkflowStep]]:
    """``(depth, step)`` in tree order: a chain's or group's members, then its callbacks."""
    children: dict[int | None, list[WorkflowStep]] = {}
    for step in sorted(steps, key=lambda s: (ROLE_ORDER.get(s.role, 9), s.position)):
        children.setdefault(step.parent_id, []).append(step)
    rows: list[tuple[int, WorkflowStep]] = []

    def walk(parent: int | None, depth: int) -> None:
        for step in children.get(parent, []):
            rows.append((depth, step))
            walk(step.pk, depth + 1)

    walk(None, 0)
    return rows
