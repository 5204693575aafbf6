"""The dashboard's pages: overview, jobs of one state, one job, and the action endpoint."""

from __future__ import annotations

from django.apps import apps as django_apps
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.dashboard import charts, health, queries
from dj_queue.dashboard.actions import ACTIONS, STATE_ACTIONS, STATE_WORDS, ActionError, Target, perform
from dj_queue.dashboard.backends import Backend, selected_backend
from dj_queue.dashboard.filters import JobFilter
from dj_queue.dashboard.history import attempt_rows
from dj_queue.dashboard.policy import describe_policy
from dj_queue.dashboard.tables import CappedPaginator, Column, Table
from dj_queue.exceptions import UndiscardableError
from dj_queue.policies import policy_for_job
from dj_queue.results import job_pk

VIEW_PERMISSION = "dj_queue.view_job"

QUEUE_COLUMNS = [Column("Queue", "name"), Column("Ready", "ready"), Column("Oldest ready", "latency"),
                 Column("Scheduled", "scheduled"), Column("Blocked", "blocked"), Column("Running", "claimed"),
                 Column("Failed", "failed"), Column("Status", "paused"), Column("Actions")]
PROCESS_COLUMNS = [Column("Kind", "kind"), Column("Name", "name"), Column("Host", "hostname"),
                   Column("PID", "pid"), Column("Last heartbeat", "last_heartbeat_at"),
                   Column("Started", "created_at")]
RECURRING_COLUMNS = [Column("Key", "key"), Column("Task", "task_path"), Column("Schedule", "schedule"),
                     Column("Queue", "queue_name"), Column("Last run"), Column("Next run"),
                     Column("Kind", "static"), Column("Actions")]
SEMAPHORE_COLUMNS = [Column("Key", "key"), Column("Free slots", "value"), Column("Expires", "expires_at")]
STATE_COLUMNS = {
    "ready": [Column("Waiting since", "created_at")],
    "scheduled": [Column("Scheduled for", "scheduled_at")],
    "blocked": [Column("Concurrency key", "concurrency_key"), Column("Expires", "expires_at")],
    "claimed": [Column("Process", "process_id"), Column("Claimed at", "created_at")],
    "failed": [Column("Error", "exception_class"), Column("Failed at", "created_at")],
    "finished": [Column("Finished at", "finished_at"), Column("Result")],
}


def _context(request: HttpRequest, site: AdminSite, backend: Backend, title: str, **extra) -> dict:
    request.current_app = site.name
    return {**site.each_context(request), "title": title, "backend": backend,
            "backend_query": urlencode({"backend": backend.alias}), "states": queries.STATES,
            "dashboard_url": reverse("admin:dj_queue_dashboard", current_app=site.name),
            "app_name": django_apps.get_app_config("dj_queue").verbose_name, **extra}


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"you need the {permission} permission")


def overview(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """Summary cards, queues, processes, recurring tasks and semaphores of one backend."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    recurring = Table(request, "rec", RECURRING_COLUMNS, queries.recurring_tasks(backend), default="key")
    queries.add_runs(backend, recurring.page.object_list)
    queue_rows, processes = queries.queue_rows(backend), queries.processes(backend)
    window = charts.window_name(request.GET.get("chart"))
    drawn = charts.charts(backend, window)
    return TemplateResponse(request, "dj_queue/dashboard.html", _context(
        request, site, backend, "Queue dashboard",
        counts=queries.summary(backend, queue_rows), lifecycle=health.lifecycle_counts(backend),
        throttled=queries.throttled_count(backend),
        health=health.health(backend, processes, queue_rows),
        queues=Table(request, "q", QUEUE_COLUMNS, queue_rows, default="name"),
        processes=Table(request, "proc", PROCESS_COLUMNS, processes, default="kind"),
        tables=_internal_tables(site),
        recurring=recurring,
        semaphores=Table(request, "sem", SEMAPHORE_COLUMNS, queries.semaphores(backend), default="key"),
        can=_permissions(request), charts=drawn, chart_window=window,
        chart_windows=[(name, label) for name, (label, _, _) in charts.WINDOWS.items()],
        chart_start=charts.window_start(window),
    ))


def jobs(request: HttpRequest, site: AdminSite, state: str) -> HttpResponse:
    """The jobs of one state, optionally of one queue, with that state's actions."""
    _require(request, VIEW_PERMISSION)
    if state not in queries.STATES:
        raise Http404(f"unknown state {state!r}; states are {', '.join(queries.STATES)}")
    backend = selected_backend(request)
    filters = JobFilter(request.GET, state=state)
    queue = filters.values().get("queue", "")  # as cleaned and applied: the "all" buttons act on this
    rows = filters.apply(queries.state_rows(backend, state))
    matching = filters.describe(without=("queue",))
    prefix = "" if state == "finished" else "job__"
    columns = [Column("Job", "pk" if state == "finished" else "job_id"), Column("Task", f"{prefix}task_path"),
               Column("Queue", f"{prefix}queue_name"), Column("Priority", f"{prefix}priority"),
               Column("Arguments"), *STATE_COLUMNS[state]]
    if state != "finished":
        rows = rows.select_related("job")
    default = "-pk" if state == "finished" else "-job_id" if state == "failed" else "job_id"
    table = Table(request, "jobs", columns, rows, default=default, per_page=50)
    table.rows = [(row, None) if state == "finished" else (row.job, row) for row in table.page.object_list]
    return TemplateResponse(request, "dj_queue/jobs.html", _context(
        request, site, backend, _jobs_title(state, queue),
        state=state, queue=queue, table=table, can=_permissions(request),
        actions=[ACTIONS[name] for name in STATE_ACTIONS[state]],
        filters=filters, filter_fields=filters.params(), matching=matching,
        all_labels=_all_labels(state, table.paginator, matching=bool(matching)),
    ))


def _all_labels(state: str, paginator: CappedPaginator, *, matching: bool) -> dict[str, str]:
    """ "Retry all 37 matching failed jobs": the "all" buttons say how many jobs they touch
    ("10,000+" past the pager's count cap: the action itself still takes every matching job)."""
    words = f"{'matching ' if matching else ''}{STATE_WORDS.get(state, state)} job"
    noun = f"{paginator.shown_count} {words}{'' if paginator.count == 1 else 's'}"
    labels = {name: f"{ACTIONS[name].label} all {noun}" for name in STATE_ACTIONS[state]}
    labels.update(run_now=f"Run all {noun} now", change_priority=f"Change priority of all {noun}")
    return labels


def _jobs_title(state: str, queue: str) -> str:
    title = f"{STATE_WORDS.get(state, state)} jobs".capitalize()
    return f"{title} in queue {queue!r}" if queue else title


def lookup(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """Jump to the page of the job whose id was typed in the search box."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    dashboard = reverse("admin:dj_queue_dashboard", current_app=site.name)
    text = request.GET.get("id", "").strip().lstrip("#")
    if not (text.isascii() and text.isdigit()):
        messages.error(request, f"Job ids are whole numbers; {text!r} is not one.")
        return HttpResponseRedirect(f"{dashboard}?{urlencode({'backend': backend.alias})}")
    # Past 18 digits no id can exist (ids are 64-bit), and the database would refuse the number.
    if len(text) > 18 or not queries.job_exists(backend, int(text)):
        messages.error(request, f"No job {text} in backend {backend.alias!r}.")
        return HttpResponseRedirect(f"{dashboard}?{urlencode({'backend': backend.alias})}")
    page = reverse("admin:dj_queue_dashboard_job", kwargs={"job_id": int(text)}, current_app=site.name)
    return HttpResponseRedirect(f"{page}?{urlencode({'backend': backend.alias})}")


def job_detail(request: HttpRequest, site: AdminSite, job_id: int) -> HttpResponse:
    """One job: arguments, outcome, timings, attempts, and what can be done with it."""
    _require(request, VIEW_PERMISSION)
    backend = selected_backend(request)
    job = queries.job_with_state(backend, job_id)
    if job is None:
        raise Http404(f"no job {job_id} in backend {backend.alias!r}")
    # Any job can be enqueued again as a fresh copy; finished jobs already offer it.
    names = [*STATE_ACTIONS.get(job.state, ()), *([] if job.state == "finished" else ["enqueue_again"])]
    if job.cancel_requested_at:  # asked already: the worker acts on it at its next check
        names = [name for name in names if name != "cancel"]
    failure = queries.related_or_none(job, "failed_execution")
    return TemplateResponse(request, "dj_queue/job.html", _context(
        request, site, backend, f"Job {job.pk}", job=job, can=_permissions(request),
        actions=[ACTIONS[name] for name in names], attempts=len(job.worker_ids or []),
        failure=failure, outcome=health.failure_kind(failure.exception_class) if failure else job.state,
        claim=queries.related_or_none(job, "claimed_execution"),
        throttled=queries.throttled_execution(job),
        history=attempt_rows(job, job.state), policy=describe_policy(policy_for_job(job)),
        workflow_id=queries.workflow_of(job, backend.using),
    ))


@require_POST
def action(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """Check permission, confirm, then run one action and go back to ``next``."""
    chosen = ACTIONS.get(request.POST.get("op", ""))
    if chosen is None:
        return HttpResponseBadRequest("unknown action")
    _require(request, VIEW_PERMISSION)  # the confirmation page shows the jobs: reading them is viewing
    _require(request, chosen.permission)
    backend = selected_backend(request)
    back = _next_url(request, site)
    try:
        target = _target(request, backend)
        chosen.check(target)
    except ActionError as exc:
        messages.error(request, f"{chosen.label}: {exc}.")
        return HttpResponseRedirect(back)
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(request, "dj_queue/confirm.html", _context(
            request, site, backend, "Are you sure?", question=chosen.describe(target), back_url=back,
            jobs=target.named_jobs() if len(target.ids) > 1 else [], count=len(target.ids),
            fields=[(k, v) for k in request.POST if k != "csrfmiddlewaretoken" for v in request.POST.getlist(k)],
        ))
    try:
        messages.success(request, perform(chosen, target))
    except UndiscardableError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(back)


def _target(request: HttpRequest, backend: Backend) -> Target:
    try:
        ids = [job_pk(value) for value in request.POST.getlist("ids")]
    except TaskResultDoesNotExist:  # not digits, or too many for an id
        raise ActionError("job ids must be numbers") from None
    state = request.POST.get("state", "")
    filters = JobFilter(request.POST, state=state) if state in queries.STATES else None
    if filters is not None and not filters.is_valid():
        problems = "; ".join(f"{filters.fields[name].label.lower()}: {' '.join(errors).rstrip('.')}"
                             for name, errors in filters.errors.items())
        raise ActionError(f"the filter is not valid ({problems})")
    return Target(backend=backend, queue=request.POST.get("queue", ""), state=state,
                  ids=ids, key=request.POST.get("key", ""), everything=request.POST.get("all") == "1",
                  filters=filters, priority_text=request.POST.get("priority", ""))


def _next_url(request: HttpRequest, site: AdminSite) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return reverse("admin:dj_queue_dashboard", current_app=site.name)


def _internal_tables(site: AdminSite) -> list[tuple[str, str]]:
    """(name, changelist URL) of the tables the admin index leaves off."""
    return [(str(model._meta.verbose_name_plural).capitalize(),
             reverse(f"admin:dj_queue_{model._meta.model_name}_changelist", current_app=site.name))
            for model, model_admin in site._registry.items()
            if model._meta.app_label == "dj_queue" and getattr(model_admin, "on_index", True) is False]


def _permissions(request: HttpRequest) -> dict[str, bool]:
    """Which actions the user may run, so pages only offer buttons that will work."""
    return {name: request.user.has_perm(chosen.permission) for name, chosen in ACTIONS.items()}
