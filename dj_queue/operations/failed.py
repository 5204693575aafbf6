"""Select failed jobs by task, queue, exception class and failure age (for operator commands)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from dj_queue.models import FailedExecution


def select_failed(*, backend_alias: str, using: str, task: str | None = None, queue: str | None = None,
                  exception: str | None = None, older_than: float | None = None, newer_than: float | None = None,
                  ids: Iterable[int] | None = None) -> QuerySet:
    """Failed executions of the backend matching every filter given, newest failure first.

    ``exception`` matches the dotted class path or its last part (``ValueError`` matches
    ``builtins.ValueError``); ``older_than`` / ``newer_than`` are seconds since the failure.
    """
    qs = FailedExecution.objects.using(using).filter(backend_alias=backend_alias).select_related("job")
    if task:
        qs = qs.filter(job__task_path=task)
    if queue:
        qs = qs.filter(job__queue_name=queue)
    if exception:
        qs = qs.filter(Q(exception_class=exception) | Q(exception_class__endswith=f".{exception}"))
    now = timezone.now()
    if older_than is not None:
        qs = qs.filter(created_at__lt=now - timedelta(seconds=older_than))
    if newer_than is not None:
        qs = qs.filter(created_at__gte=now - timedelta(seconds=newer_than))
    if ids is not None:
        qs = qs.filter(job_id__in=list(ids))
    return qs.order_by("-created_at", "-job_id")
