"""Deleting old finished jobs, failed jobs and recurring reservations, in small batches.

Each batch is its own short transaction, so cleanup never holds long locks on busy tables.
Used by the cleanup plugin (on the scheduler) and by ``manage.py dj_queue_prune``, whose dry run
counts the same querysets the deletions use.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, RecurringExecution

BATCH = 500


def _delete_in_batches(ids_query: QuerySet, delete_query: QuerySet, batch_size: int, using: str, *,
                       still: QuerySet | None = None) -> int:
    """Delete ``delete_query``'s rows with the ids ``ids_query`` lists, a batch per transaction.

    ``still``: rows (by ``job_id``) that must still exist, locked, for a listed id to go: a job
    that left that state since it was listed (a failed job retried) is not deleted.
    """
    removed = 0
    while True:
        ids = list(ids_query[:batch_size])
        if not ids:
            return removed
        with transaction.atomic(using=using):
            if still is not None:
                ids = list(still.filter(job_id__in=ids).select_for_update().values_list("job_id", flat=True))
            deleted, per_model = delete_query.filter(pk__in=ids).delete()
        removed += per_model.get(delete_query.model._meta.label, 0)
        if len(ids) < batch_size:
            return removed


def finished_jobs(*, backend_alias: str, using: str, older_than: timedelta,
                  task_path: str | None = None) -> QuerySet:
    """Successful jobs finished more than ``older_than`` ago (failed ones are never included)."""
    jobs = Job.objects.using(using).filter(
        backend_alias=backend_alias, finished_at__lt=timezone.now() - older_than,
        failed_execution__isnull=True,
    )
    return jobs.filter(task_path=task_path) if task_path else jobs


def failed_executions(*, backend_alias: str, using: str, older_than: timedelta,
                      task_path: str | None = None) -> QuerySet:
    """Failures older than ``older_than``; deleting their jobs deletes them."""
    failed = FailedExecution.objects.using(using).filter(
        backend_alias=backend_alias, created_at__lt=timezone.now() - older_than
    )
    return failed.filter(job__task_path=task_path) if task_path else failed


def recurring_executions(*, backend_alias: str, using: str, older_than: timedelta,
                         task_key: str | None = None) -> QuerySet:
    """Recurring-run reservations created more than ``older_than`` ago, but each task's latest.

    The latest reservation of a task is what stops a scheduler from firing that run again.
    """
    latest = RecurringExecution.objects.using(using).filter(
        backend_alias=backend_alias, task_key=OuterRef("task_key")
    ).order_by("-run_at").values("run_at")[:1]
    runs = RecurringExecution.objects.using(using).filter(
        backend_alias=backend_alias, created_at__lt=timezone.now() - older_than
    ).exclude(run_at=Subquery(latest))
    return runs.filter(task_key=task_key) if task_key else runs


def tally(rows: QuerySet, field: str) -> dict[str, int]:
    """How many of ``rows`` there are per value of ``field``, by value (what a dry run reports)."""
    counts = rows.order_by().values(field).annotate(n=Count("pk")).values_list(field, "n")
    return dict(sorted(counts))


def delete_finished_jobs(*, backend_alias: str, using: str, older_than: timedelta,
                         task_path: str | None = None, batch_size: int = BATCH) -> int:
    """Delete successful jobs finished more than ``older_than`` ago (failed ones are kept)."""
    jobs = finished_jobs(backend_alias=backend_alias, using=using, older_than=older_than, task_path=task_path)
    return _delete_in_batches(jobs.order_by("pk").values_list("pk", flat=True),
                              Job.objects.using(using), batch_size, using)


def delete_failed_jobs(*, backend_alias: str, using: str, older_than: timedelta,
                       task_path: str | None = None, batch_size: int = BATCH) -> int:
    """Delete failed jobs whose failure is older than ``older_than``."""
    failed = failed_executions(backend_alias=backend_alias, using=using, older_than=older_than,
                               task_path=task_path)
    return _delete_in_batches(failed.order_by("job_id").values_list("job_id", flat=True),
                              Job.objects.using(using), batch_size, using,
                              still=FailedExecution.objects.using(using))


def delete_recurring_executions(*, backend_alias: str, using: str, older_than: timedelta,
                                task_key: str | None = None, batch_size: int = BATCH) -> int:
    """Delete recurring-run reservations created more than ``older_than`` ago (each task's latest stays)."""
    runs = recurring_executions(backend_alias=backend_alias, using=using, older_than=older_than,
                                task_key=task_key)
    return _delete_in_batches(runs.order_by("pk").values_list("pk", flat=True),
                              RecurringExecution.objects.using(using), batch_size, using)
