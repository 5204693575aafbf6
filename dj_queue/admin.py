"""Admin changelists for every dj_queue model, plus the operator dashboard.

Rows are read-only: a job changes state only through dj_queue's operations (retry, discard,
resume, unschedule, enqueue again), offered as confirmed actions, each behind its own permission.
Registering ``JobAdmin`` installs the dashboard at ``<admin>/dj_queue/dashboard/``.

The admin index lists only what operators open directly (the dashboard, jobs, failed jobs and
recurring tasks); the other tables are internal bookkeeping, kept reachable from the dashboard's
"Tables" line and by URL.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from dj_queue import dashboard
from dj_queue.dashboard import admin_actions as actions
from dj_queue.dashboard.backends import queue_backends
from dj_queue.dashboard.health import LIFECYCLE, failure_kind, lifecycle_jobs
from dj_queue.dashboard.queries import JOB_STATES, state_of
from dj_queue.dashboard.redaction import redacted_call
from dj_queue.dashboard.tables import CappedPaginator
from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    Pause,
    Process,
    ReadyExecution,
    RecurringExecution,
    RecurringTask,
    ScheduledExecution,
    Semaphore,
)
from dj_queue.templatetags.dj_queue_tags import pretty, preview, when

# Which permission each custom action needs (see docs/dashboard.md).
ACTION_PERMISSIONS = {
    "retry": "dj_queue.change_failedexecution",
    "discard": "dj_queue.delete_job",
    "cancel": "dj_queue.change_job",
    "run_now": "dj_queue.change_job",
    "enqueue": "dj_queue.add_job",
    "resume": "dj_queue.delete_pause",
    "unschedule": "dj_queue.delete_recurringtask",
}


# Date-time columns shown with seconds, time zone and age, as on the dashboard.
MOMENTS = ("enqueued_at", "finished_at", "created_at", "updated_at", "scheduled_at", "expires_at",
           "last_heartbeat_at", "run_at")


@functools.cache
def _moment(model: type, name: str):
    @admin.display(description=model._meta.get_field(name).verbose_name, ordering=name)
    def show(obj) -> str:
        return when(getattr(obj, name))

    show.__name__ = name
    return show


# Fields whose values redaction may hide: never filtered on from the URL.
SECRET_FIELDS = frozenset({"args", "kwargs"})


class QueueAdmin(admin.ModelAdmin):
    """Read-only and cheap on big tables: no full count, a capped filtered count ("10,000+"),
    no per-row queries."""

    show_full_result_count = False
    paginator = CappedPaginator
    list_per_page = 50
    actions = []
    on_index = False  # internal table: left off the admin index

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        """No filtering on arguments from the URL (``?args__0__startswith=4111``): counting the
        matches would let a viewer guess a redacted value one character at a time."""
        if SECRET_FIELDS & set(lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_list_display(self, request: HttpRequest):
        return [_moment(self.model, name) if name in MOMENTS else name
                for name in super().get_list_display(request)]

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # The index skips a model whose permissions are all False; its changelist stays served.
        perms = super().get_model_perms(request)
        return perms if self.on_index else {name: False for name in perms}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def _may(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(ACTION_PERMISSIONS[action])

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "retry")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "discard")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "cancel")

    def has_run_now_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "run_now")

    def has_enqueue_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "enqueue")

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "resume")

    def has_unschedule_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "unschedule")


class RedactedArguments:
    """Shows a row's args and kwargs, secret values masked (``redact_keys``), on its detail page."""

    exclude = ("args", "kwargs")
    readonly_fields = ("shown_args", "shown_kwargs")

    @admin.display(description="args")
    def shown_args(self, obj) -> str:
        return format_html("<pre>{}</pre>", pretty(redacted_call(obj)[0]))

    @admin.display(description="kwargs")
    def shown_kwargs(self, obj) -> str:
        return format_html("<pre>{}</pre>", pretty(redacted_call(obj)[1]))


def _job_link(job: Job) -> str:
    url = reverse("admin:dj_queue_dashboard_job", args=[job.pk])
    return format_html('<a href="{}?{}">{}</a>', url, urlencode({"backend": job.backend_alias}), job.pk)


class BackendFilter(admin.SimpleListFilter):
    """The dj_queue backends of ``TASKS``: Django's own field filter would read them with a
    ``SELECT DISTINCT`` over the whole table (the history, on the jobs table) on every page."""

    title = "backend alias"
    parameter_name = "backend_alias"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(alias, alias) for alias in queue_backends()]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(backend_alias=self.value()) if self.value() else queryset


class WaitingQueueFilter(admin.SimpleListFilter):
    """Queues with waiting jobs or a pause, read from the small per-state tables rather than with
    a ``SELECT DISTINCT`` over every job ever kept; any queue still filters by URL (``?queue_name=``)."""

    title = "queue (with waiting jobs)"
    parameter_name = "queue_name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        using = model_admin.get_queryset(request).db
        names = {self.value()} if self.value() else set()
        for model in (ReadyExecution, ScheduledExecution, BlockedExecution, Pause):
            names.update(model.objects.using(using).order_by().values_list("queue_name", flat=True).distinct())
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(queue_name=self.value()) if self.value() else queryset


class LifecycleFilter(admin.SimpleListFilter):
    """Jobs retrying, rescued from a dead process, or cancelled (the dashboard's cards link here)."""

    title = "lifecycle"
    parameter_name = "lifecycle"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(name, name) for name in LIFECYCLE]

    def queryset(self, request: HttpRequest, queryset):
        return lifecycle_jobs(queryset, self.value()) if self.value() in LIFECYCLE else queryset


@admin.register(Job)
class JobAdmin(RedactedArguments, QueueAdmin):
    list_display = ("id", "task_path", "queue_name", "priority", "state", "arguments", "enqueued_at",
                    "finished_at", "dashboard")
    list_filter = (BackendFilter, WaitingQueueFilter, LifecycleFilter)
    on_index = True
    list_select_related = JOB_STATES
    search_fields = ("task_path",)
    actions = [actions.cancel_jobs, actions.discard_jobs, actions.enqueue_again]

    def __init__(self, model, admin_site) -> None:
        super().__init__(model, admin_site)
        dashboard.install(admin_site)

    @admin.display(description="state")
    def state(self, job: Job) -> str:
        state = state_of(job)
        return failure_kind(job.failed_execution.exception_class) if state == "failed" else state

    @admin.display(description="arguments")
    def arguments(self, job: Job) -> str:
        return preview(list(redacted_call(job)))

    @admin.display(description="details")
    def dashboard(self, job: Job) -> str:
        return _job_link(job)


class ExecutionAdmin(QueueAdmin):
    list_select_related = ("job",)
    list_filter = (BackendFilter,)

    @admin.display(description="job", ordering="job_id")
    def job_link(self, execution) -> str:
        return _job_link(execution.job)

    @admin.display(description="task", ordering="job__task_path")
    def task_path(self, execution) -> str:
        return execution.job.task_path

    @admin.display(description="arguments")
    def arguments(self, execution) -> str:
        return preview(list(redacted_call(execution.job)))


@admin.register(ReadyExecution)
class ReadyExecutionAdmin(ExecutionAdmin):
    list_display = ("job_link", "task_path", "queue_name", "priority", "arguments", "created_at")
    list_filter = (BackendFilter, "queue_name")
    actions = [actions.cancel_jobs]


@admin.register(ScheduledExecution)
class ScheduledExecutionAdmin(ExecutionAdmin):
    list_display = ("job_link", "task_path", "queue_name", "priority", "arguments", "scheduled_at")
    list_filter = (BackendFilter, "queue_name")
    actions = [actions.run_now, actions.cancel_jobs]


@admin.register(BlockedExecution)
class BlockedExecutionAdmin(ExecutionAdmin):
    list_display = ("job_link", "task_path", "queue_name", "concurrency_key", "arguments", "expires_at")
    list_filter = (BackendFilter, "queue_name")
    actions = [actions.cancel_jobs]


@admin.register(ClaimedExecution)
class ClaimedExecutionAdmin(ExecutionAdmin):
    list_display = ("job_link", "task_path", "process_id", "arguments", "created_at")
    actions = [actions.cancel_jobs]


@admin.register(FailedExecution)
class FailedExecutionAdmin(ExecutionAdmin):
    on_index = True
    list_display = ("job_link", "task_path", "exception_class", "short_message", "arguments", "created_at")
    search_fields = ("job__task_path", "exception_class")
    actions = [actions.retry_failed, actions.discard_executions]

    @admin.display(description="message")
    def short_message(self, failed: FailedExecution) -> str:
        return failed.message if len(failed.message) <= 120 else failed.message[:119] + "…"


@admin.register(Process)
class ProcessAdmin(QueueAdmin):
    list_display = ("id", "kind", "name", "hostname", "pid", "last_heartbeat_at", "created_at")
    list_filter = (BackendFilter, "kind")


@admin.register(Pause)
class PauseAdmin(QueueAdmin):
    list_display = ("queue_name", "backend_alias", "created_at")
    actions = [actions.resume_queues]


@admin.register(Semaphore)
class SemaphoreAdmin(QueueAdmin):
    list_display = ("key", "value", "expires_at", "backend_alias", "updated_at")
    search_fields = ("key",)


@admin.register(RecurringTask)
class RecurringTaskAdmin(RedactedArguments, QueueAdmin):
    on_index = True
    list_display = ("key", "task_path", "schedule", "queue_name", "priority", "static", "backend_alias")
    list_filter = (BackendFilter, "static")
    actions = [actions.unschedule]


@admin.register(RecurringExecution)
class RecurringExecutionAdmin(QueueAdmin):
    list_display = ("task_key", "run_at", "job_id", "backend_alias", "created_at")
    list_filter = (BackendFilter,)
