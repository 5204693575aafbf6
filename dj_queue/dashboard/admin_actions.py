"""Changelist actions for dj_queue's models, each confirmed on a second POST before it runs."""

from __future__ import annotations

from typing import Callable

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.dashboard.actions import LISTED, STATE_WORDS, enqueue_copy, plural, write_transaction
from dj_queue.exceptions import NotCancellableError, UndiscardableError
from dj_queue.models import ClaimedExecution, FailedExecution, Job
from dj_queue.operations import jobs as job_ops
from dj_queue.operations import queues as queue_ops
from dj_queue.operations import recurring as recurring_ops

Runner = Callable[[QuerySet], str]


def confirm_then(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet,
                 question: str, run: Runner) -> TemplateResponse | None:
    """Ask first; on the confirming POST run ``run(queryset)`` and report its message."""
    if request.POST.get("confirm") != "yes":
        fields = [(k, v) for k in request.POST if k != "csrfmiddlewaretoken" for v in request.POST.getlist(k)]
        jobs = _jobs_of(queryset)
        context = {**modeladmin.admin_site.each_context(request), "title": "Are you sure?",
                   "question": question, "fields": fields, "opts": modeladmin.model._meta,
                   "count": len(request.POST.getlist(ACTION_CHECKBOX_NAME)),
                   "jobs": list(jobs.only("pk", "task_path", "queue_name").order_by("pk")[:LISTED])
                   if jobs is not None else []}
        return TemplateResponse(request, "dj_queue/admin_confirm.html", context)
    try:
        if request.POST.get("select_across") == "1":  # every row: the operation batches it
            message = run(queryset)
        else:
            with write_transaction(queryset.db):  # one page of rows: one write transaction
                message = run(queryset)
        modeladmin.message_user(request, message, messages.SUCCESS)
    except UndiscardableError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
    return None


def _jobs_of(queryset: QuerySet) -> QuerySet | None:
    """The jobs behind a queryset of jobs or of execution rows; None for other models."""
    if queryset.model is Job:
        return queryset.select_related(None)  # the changelist joins every state; only() then fails
    if any(f.name == "job" for f in queryset.model._meta.fields):
        return Job.objects.using(queryset.db).filter(pk__in=queryset.values("job_id"))
    return None


def _jobs_noun(queryset: QuerySet) -> str:
    """ "jobs" for the Jobs changelist, "ready jobs", "running jobs" ... for an execution table's."""
    if queryset.model is Job:
        return "jobs"
    state = queryset.model._meta.model_name.removesuffix("execution")
    return f"{STATE_WORDS.get(state, state)} jobs"


def _rows(queryset: QuerySet, noun: str) -> str:
    """ "failed job 42 (shop.tasks.send_receipt)" for one job, else "the 3 selected failed jobs"."""
    count = queryset.count()
    jobs = _jobs_of(queryset) if count == 1 else None
    job = jobs.only("pk", "task_path").first() if jobs is not None else None
    if job is not None:
        return f"{noun.removesuffix('s')} {job.pk} ({job.task_path})"
    return f"the {count} selected {noun if count != 1 else noun.removesuffix('s')}"


@admin.action(description="Retry selected failed jobs", permissions=["retry"])
def retry_failed(modeladmin, request, queryset):
    return confirm_then(modeladmin, request, queryset, f"Retry {_rows(queryset, 'failed jobs')}",
                        lambda qs: f"Retried {plural(FailedExecution.retry_all(qs), 'failed job')}.")


@admin.action(description="Discard selected jobs", permissions=["discard"])
def discard_executions(modeladmin, request, queryset):
    """Discard (delete) the jobs of the selected failed executions."""
    def run(qs: QuerySet) -> str:
        return f"Discarded {plural(job_ops.discard_in_batches(qs, using=qs.db), 'job')}."

    return confirm_then(modeladmin, request, queryset, f"Discard {_rows(queryset, 'jobs')}", run)


@admin.action(description="Discard selected jobs (not running ones)", permissions=["discard"])
def discard_jobs(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        running = ClaimedExecution.objects.using(qs.db).filter(job__in=qs)
        if running.exists():
            raise UndiscardableError("some selected jobs are running and cannot be discarded; "
                                     "nothing was discarded")
        return f"Discarded {plural(job_ops.discard_jobs(qs.values_list('pk', flat=True), using=qs.db), 'job')}."

    return confirm_then(modeladmin, request, queryset, f"Discard {_rows(queryset, 'jobs')}", run)


@admin.action(description="Cancel selected jobs (they end failed with JobCancelledError)", permissions=["cancel"])
def cancel_jobs(modeladmin, request, queryset):
    """Cancel the selected waiting or running jobs; finished ones are left as they are."""
    def run(qs: QuerySet) -> str:
        cancelled = requested = skipped = 0
        for job in _jobs_of(qs).values("pk", "backend_alias").order_by("pk").iterator():
            try:
                outcome = job_ops.cancel(job["pk"], backend_alias=job["backend_alias"], using=qs.db)
            except (NotCancellableError, TaskResultDoesNotExist):
                skipped += 1
                continue
            cancelled += outcome == job_ops.CANCELLED
            requested += outcome == job_ops.REQUESTED
        message = f"Cancelled {plural(cancelled, 'job')}; asked {plural(requested, 'running job')} to stop."
        return message + (f" Skipped {plural(skipped, 'job')} that already finished." if skipped else "")

    return confirm_then(modeladmin, request, queryset, f"Cancel {_rows(queryset, _jobs_noun(queryset))}", run)


@admin.action(description="Run selected scheduled jobs now", permissions=["run_now"])
def run_now(modeladmin, request, queryset):
    """Move the selected scheduled jobs to ready at once (through their concurrency limit, if any)."""
    def run(qs: QuerySet) -> str:
        ready = 0
        for job in _jobs_of(qs).values("pk", "backend_alias").order_by("pk").iterator():
            ready += job_ops.run_now(job["pk"], backend_alias=job["backend_alias"], using=qs.db) == "ready"
        return f"Moved {plural(ready, 'scheduled job')} to ready."

    return confirm_then(modeladmin, request, queryset, f"Run now {_rows(queryset, 'scheduled jobs')}", run)


@admin.action(description="Enqueue selected jobs again (as new jobs)", permissions=["enqueue"])
def enqueue_again(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        ids = [enqueue_copy(job, using=qs.db).pk for job in qs.order_by("pk")]
        return f"Enqueued {plural(len(ids), 'new job')}: {', '.join(map(str, ids))}."

    return confirm_then(modeladmin, request, queryset, f"Enqueue a fresh copy of {_rows(queryset, 'jobs')}", run)


@admin.action(description="Resume selected queues", permissions=["resume"])
def resume_queues(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        names = [p.queue_name for p in qs if queue_ops.resume(p.queue_name, backend_alias=p.backend_alias,
                                                              using=qs.db)]
        return f"Resumed {plural(len(names), 'queue')}: {', '.join(names)}."

    return confirm_then(modeladmin, request, queryset, f"Resume {_rows(queryset, 'paused queues')}", run)


@admin.action(description="Unschedule selected dynamic recurring tasks", permissions=["unschedule"])
def unschedule(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        removed = sum(recurring_ops.unschedule_dynamic(t.key, backend_alias=t.backend_alias, using=qs.db)
                      for t in qs.filter(static=False))
        skipped = qs.filter(static=True).count()
        note = f" {plural(skipped, 'static task')} left alone (they come from settings)." if skipped else ""
        return f"Unscheduled {plural(removed, 'recurring task')}.{note}"

    return confirm_then(modeladmin, request, queryset, f"Unschedule {_rows(queryset, 'recurring tasks')}", run)
