"""Changelist actions for dj_queue's models, each confirmed on a second POST before it runs."""

from __future__ import annotations

from typing import Callable

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from dj_queue.dashboard.actions import enqueue_copy, write_transaction
from dj_queue.exceptions import UndiscardableError
from dj_queue.models import ClaimedExecution, FailedExecution
from dj_queue.operations import jobs as job_ops
from dj_queue.operations import queues as queue_ops
from dj_queue.operations import recurring as recurring_ops

Runner = Callable[[QuerySet], str]


def confirm_then(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet,
                 question: str, run: Runner) -> TemplateResponse | None:
    """Ask first; on the confirming POST run ``run(queryset)`` and report its message."""
    if request.POST.get("confirm") != "yes":
        fields = [(k, v) for k in request.POST if k != "csrfmiddlewaretoken" for v in request.POST.getlist(k)]
        context = {**modeladmin.admin_site.each_context(request), "title": "Are you sure?",
                   "question": question, "fields": fields, "opts": modeladmin.model._meta,
                   "count": len(request.POST.getlist(ACTION_CHECKBOX_NAME))}
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


def _rows(queryset: QuerySet, noun: str) -> str:
    return f"the {queryset.count()} selected {noun}"


@admin.action(description="Retry selected failed jobs", permissions=["retry"])
def retry_failed(modeladmin, request, queryset):
    return confirm_then(modeladmin, request, queryset, f"Retry {_rows(queryset, 'failed jobs')}",
                        lambda qs: f"Retried {FailedExecution.retry_all(qs)} failed jobs.")


@admin.action(description="Discard selected jobs", permissions=["discard"])
def discard_executions(modeladmin, request, queryset):
    """Discard the jobs of the selected ready, scheduled, blocked or failed executions."""
    def run(qs: QuerySet) -> str:
        return f"Discarded {job_ops.discard_in_batches(qs, using=qs.db)} jobs."

    return confirm_then(modeladmin, request, queryset, f"Discard {_rows(queryset, 'jobs')}", run)


@admin.action(description="Discard selected jobs (not running ones)", permissions=["discard"])
def discard_jobs(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        running = ClaimedExecution.objects.using(qs.db).filter(job__in=qs)
        if running.exists():
            raise UndiscardableError("some selected jobs are running and cannot be discarded; "
                                     "nothing was discarded")
        return f"Discarded {job_ops.discard_jobs(qs.values_list('pk', flat=True), using=qs.db)} jobs."

    return confirm_then(modeladmin, request, queryset, f"Discard {_rows(queryset, 'jobs')}", run)


@admin.action(description="Enqueue selected jobs again (as new jobs)", permissions=["enqueue"])
def enqueue_again(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        ids = [enqueue_copy(job, using=qs.db).pk for job in qs.order_by("pk")]
        return f"Enqueued {len(ids)} new jobs: {', '.join(map(str, ids))}."

    return confirm_then(modeladmin, request, queryset, f"Enqueue a fresh copy of {_rows(queryset, 'jobs')}", run)


@admin.action(description="Resume selected queues", permissions=["resume"])
def resume_queues(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        names = [p.queue_name for p in qs if queue_ops.resume(p.queue_name, backend_alias=p.backend_alias,
                                                              using=qs.db)]
        return f"Resumed {len(names)} queues: {', '.join(names)}."

    return confirm_then(modeladmin, request, queryset, f"Resume {_rows(queryset, 'paused queues')}", run)


@admin.action(description="Unschedule selected dynamic recurring tasks", permissions=["unschedule"])
def unschedule(modeladmin, request, queryset):
    def run(qs: QuerySet) -> str:
        removed = sum(recurring_ops.unschedule_dynamic(t.key, backend_alias=t.backend_alias, using=qs.db)
                      for t in qs.filter(static=False))
        skipped = qs.filter(static=True).count()
        note = f" {skipped} static tasks were left alone (they come from settings)." if skipped else ""
        return f"Unscheduled {removed} recurring tasks.{note}"

    return confirm_then(modeladmin, request, queryset, f"Unschedule {_rows(queryset, 'recurring tasks')}", run)
