"""Claimed -> finished or failed: the end of an attempt."""

from __future__ import annotations

import traceback as tb
from typing import TYPE_CHECKING

from django.utils import timezone

from dj_queue import plugins
from dj_queue.dialects import backend_option
from dj_queue.operations.claim import after_commit
from dj_queue.operations.concurrency import release as release_slot

if TYPE_CHECKING:
    from dj_queue.models import Job


def finish(job: Job, return_value: object, *, process_id: int | None, using: str) -> bool:
    """Record a successful attempt: drop the claim of ``process_id``, store the return value.

    Returns ``False`` and changes nothing when the claim is gone or held by another process
    (a pruned process finishing late). With ``preserve_finished_jobs`` off the job row goes too.
    """
    from dj_queue.models import Job

    dialect = plugins.get_dialect(using)
    now = timezone.now()
    if backend_option(job.backend_alias, "preserve_finished_jobs"):
        finished = dialect.finish(using=using, job_id=job.pk, process_id=process_id,
                                  return_value=return_value, now=now)
    else:
        with dialect.write_transaction(using):
            finished = bool(dialect.delete_claim(using, job.pk, process_id))
            if finished:
                Job.objects.using(using).filter(id=job.pk).delete()
    if finished:
        job.finished_at, job.return_value = now, return_value
        if job.concurrency_key:
            with dialect.write_transaction(using):
                release_slot(job, using=using)
    return finished


def finish_many(outcomes: list[tuple[Job, object]], *, process_id: int | None, using: str) -> list[Job]:
    """Record several successful attempts at once (one commit); return the jobs it finished.

    Like ``finish``, a job whose claim is gone or held by another process is left alone (and not
    returned). Workers batch their completions through this: commits are the unit of cost.
    """
    from dj_queue.models import ClaimedExecution, Job

    if not outcomes:
        return []
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    by_id = {job.pk: (job, value) for job, value in outcomes}
    if backend_option(outcomes[0][0].backend_alias, "preserve_finished_jobs"):
        done = dialect.finish_many(using=using, items=[(pk, value) for pk, (_, value) in by_id.items()],
                                   process_id=process_id, now=now)
    else:
        with dialect.write_transaction(using):
            claims = ClaimedExecution.objects.using(using).filter(job_id__in=list(by_id), process_id=process_id)
            done = list(dialect.lock(claims, "", skip_locked=False).values_list("job_id", flat=True))
            claims.filter(job_id__in=done).delete()
            Job.objects.using(using).filter(id__in=done).delete()
    return settle(by_id, done, now, using=using)


def settle(by_id: dict[int, tuple[Job, object]], done: list[int], now, *, using: str) -> list[Job]:
    """After a batch of finishes committed: update the Job objects, free concurrency slots."""
    finished = []
    for pk in done:
        job, value = by_id[pk]
        job.finished_at, job.return_value = now, value
        finished.append(job)
    keyed = [job for job in finished if job.concurrency_key]
    if keyed:
        with plugins.get_dialect(using).write_transaction(using):
            for job in keyed:
                release_slot(job, using=using)
    return finished


def fail(job: Job, error: BaseException, *, process_id: int | None, using: str,
         traceback_text: str | None = None, require_claim: bool = True) -> bool:
    """Record a failed attempt: drop the claim, keep the error as a failed execution.

    With ``require_claim`` (the default) only a claim held by ``process_id`` counts, and ``False``
    is returned, changing nothing, when there is none. Without it (recovery) a claim held by any
    process is dropped, and a job already failed is left alone. ``dj_queue_job_failed`` fires
    after commit.
    """
    from dj_queue.models import ClaimedExecution, FailedExecution, Job

    dialect = plugins.get_dialect(using)
    now = timezone.now()
    with dialect.write_transaction(using):
        if require_claim:
            gone = dialect.delete_claim(using, job.pk, process_id)
        else:
            gone = ClaimedExecution.objects.using(using).filter(job_id=job.pk).delete()[0]
        if not gone and (require_claim or _already_failed(job, using)):
            return False
        FailedExecution.objects.using(using).create(
            job_id=job.pk, backend_alias=job.backend_alias, created_at=now,
            exception_class=exception_path(error), message=str(error),
            traceback=traceback_text if traceback_text is not None else format_traceback(error),
        )
        Job.objects.using(using).filter(id=job.pk).update(finished_at=now)
        if job.concurrency_key:
            release_slot(job, using=using)
    job.finished_at = now
    after_commit(using, job.backend_alias, "dj_queue_job_failed", job=job, error=error)
    return True


def fail_unclaimed(job: Job, error: BaseException, *, using: str) -> None:
    """Record a job that never ran (e.g. discarded by a concurrency limit) as failed.

    The caller makes sure the job is in no other state; ``dj_queue_job_failed`` fires after commit.
    """
    from dj_queue.models import FailedExecution, Job

    now = timezone.now()
    with plugins.get_dialect(using).write_transaction(using):
        FailedExecution.objects.using(using).create(
            job_id=job.pk, backend_alias=job.backend_alias, created_at=now,
            exception_class=exception_path(error), message=str(error), traceback=format_traceback(error),
        )
        Job.objects.using(using).filter(id=job.pk).update(finished_at=now)
    job.finished_at = now
    after_commit(using, job.backend_alias, "dj_queue_job_failed", job=job, error=error)


def _already_failed(job: Job, using: str) -> bool:
    from dj_queue.models import FailedExecution

    return FailedExecution.objects.using(using).filter(job_id=job.pk).exists()


def exception_path(error: BaseException) -> str:
    """``module.QualName`` of the error's class, as Django's ``TaskError`` records it."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"[:255]  # the column's length


def format_traceback(error: BaseException) -> str:
    """The error with its traceback (just the exception line when it was never raised)."""
    return "".join(tb.format_exception(type(error), error, error.__traceback__))
