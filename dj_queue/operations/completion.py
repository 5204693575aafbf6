"""The end of an attempt: claimed -> finished, failed, scheduled for a retry, or rescued.

Each function is one transaction and needs the claim: a job whose claim is gone (its process was
pruned, another recoverer got there first) is left alone, so an outcome is never recorded twice.
Every failed attempt appends one entry to ``Job.errors``; the last failure also stays in a
``FailedExecution`` row an operator can retry or discard.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from dj_queue import plugins
from dj_queue.dialects import backend_option
from dj_queue.failures import error_entry
from dj_queue.models import ClaimedExecution, FailedExecution, Job, ReadyExecution, ScheduledExecution
from dj_queue.operations.concurrency import release as release_slot
from dj_queue.operations.events import after_commit, announce_ready, notify_after_commit
from dj_queue.operations import workflows

logger = logging.getLogger("dj_queue.operations")

if TYPE_CHECKING:
    from dj_queue.policies import Policy

# What ``fail`` and ``rescue`` did with a job.
FAILED, RETRYING, READY = "failed", "retrying", "ready"


def finish(job: Job, return_value: object, *, process_id: int | None, using: str) -> bool:
    """Record a successful attempt: drop the claim of ``process_id``, store the return value.

    Returns ``False`` and changes nothing when the claim is gone or held by another process
    (a pruned process finishing late). With ``preserve_finished_jobs`` off the job row goes too.
    """
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    if job.workflow_step_id is not None:
        finished = _finish_step(dialect, job, return_value, process_id=process_id, using=using, now=now)
    elif job.concurrency_key:
        return bool(_finish_holders([(job, return_value)], process_id=process_id, using=using))
    elif backend_option(job.backend_alias, "preserve_finished_jobs"):
        finished = dialect.finish(using=using, job_id=job.pk, process_id=process_id,
                                  return_value=return_value, now=now)
        if finished is None:
            with dialect.write_transaction(using):
                finished = bool(finish_rows(dialect, using=using, items=[(job.pk, return_value)],
                                            process_id=process_id, now=now))
    else:
        with dialect.write_transaction(using):
            finished = bool(dialect.delete_claim(using, job.pk, process_id))
            if finished:
                Job.objects.using(using).filter(id=job.pk).delete()
    if finished:
        job.finished_at, job.return_value = now, return_value
    return finished


def finish_many(outcomes: list[tuple[Job, object]], *, process_id: int | None, using: str) -> list[Job]:
    """Record several successful attempts at once (one commit); return the jobs it finished.

    Like ``finish``, a job whose claim is gone or held by another process is left alone (and not
    returned). Workers batch their completions through this: commits are the unit of cost.
    """
    outcomes, stepped = split_steps(outcomes, process_id=process_id, using=using)
    if not outcomes:
        return stepped
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    by_id = {job.pk: (job, value) for job, value in outcomes}
    if backend_option(outcomes[0][0].backend_alias, "preserve_finished_jobs"):
        items = [(pk, value) for pk, (_, value) in by_id.items()]
        done = dialect.finish_many(using=using, items=items, process_id=process_id, now=now)
        if done is None:
            with dialect.write_transaction(using):
                done = finish_rows(dialect, using=using, items=items, process_id=process_id, now=now)
    else:
        with dialect.write_transaction(using):
            done = _delete_finished(dialect, list(by_id), process_id=process_id, using=using)
    return stepped + settle(by_id, done, now)


def _delete_finished(dialect: Any, job_ids: list[int], *, process_id: int | None, using: str) -> list[int]:
    """Finished jobs not kept (``preserve_finished_jobs`` off): drop the claims held and the jobs."""
    claims = ClaimedExecution.objects.using(using).filter(job_id__in=job_ids, process_id=process_id)
    done = list(dialect.lock(claims, "", skip_locked=False).values_list("job_id", flat=True))
    claims.filter(job_id__in=done).delete()
    Job.objects.using(using).filter(id__in=done).delete()
    return done


def split_steps(outcomes: list[tuple[Job, object]], *, process_id: int | None,
                using: str) -> tuple[list[tuple[Job, object]], list[Job]]:
    """Finish the jobs of a batch that need more than their own rows; return the others and those.

    Workflow steps one by one (each advances its workflow in its own transaction); jobs holding a
    concurrency slot together, their slots given back in the transaction that finishes them, so
    no crash or lost connection between two commits can keep a slot. Free for plain jobs: the
    step id and the key came with the claimed row.
    """
    if all(job.workflow_step_id is None and not job.concurrency_key for job, _ in outcomes):
        return outcomes, []
    steps = [(job, value) for job, value in outcomes if job.workflow_step_id is not None]
    holders = [(job, value) for job, value in outcomes if job.workflow_step_id is None and job.concurrency_key]
    done = [job for job, value in steps if finish(job, value, process_id=process_id, using=using)]
    if holders:
        done += _finish_holders(holders, process_id=process_id, using=using)
    return [(job, value) for job, value in outcomes if job.workflow_step_id is None and not job.concurrency_key], done


def _finish_holders(outcomes: list[tuple[Job, object]], *, process_id: int | None, using: str) -> list[Job]:
    """Finish jobs with a concurrency key and give their slots back, in one transaction."""
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    by_id = {job.pk: (job, value) for job, value in outcomes}
    with dialect.write_transaction(using):
        if backend_option(outcomes[0][0].backend_alias, "preserve_finished_jobs"):
            done = finish_rows(dialect, using=using, items=[(pk, value) for pk, (_, value) in by_id.items()],
                               process_id=process_id, now=now)
        else:
            done = _delete_finished(dialect, list(by_id), process_id=process_id, using=using)
        finished = settle(by_id, done, now)
        for job in sorted(finished, key=lambda held: (held.concurrency_key, held.pk)):  # one lock order
            release_slot(job, using=using)
    return finished


def _finish_step(dialect: Any, job: Job, value: object, *, process_id: int | None, using: str,
                 now: datetime) -> bool:
    """Finish a workflow step's job and advance its workflow in the same transaction."""
    with dialect.write_transaction(using):
        if backend_option(job.backend_alias, "preserve_finished_jobs"):
            finished = bool(finish_rows(dialect, using=using, items=[(job.pk, value)], process_id=process_id,
                                        now=now))
        elif finished := bool(dialect.delete_claim(using, job.pk, process_id)):
            Job.objects.using(using).filter(id=job.pk).delete()
        if finished:
            if job.concurrency_key:
                # Workflow, then semaphore (the order failing takes them in); the slot is free before
                # the next step starts, which may need it, and released in this same transaction.
                workflows.lock_workflow_of(job, using)
                release_slot(job, using=using)
            workflows.step_ended(job, using, succeeded=True, value=value)
    return finished


def finish_rows(dialect: Any, *, using: str, items: list[tuple[int, Any]], process_id: int | None,
                now: datetime) -> list[int]:
    """The finish's statements inside the caller's transaction; return the ids whose claim was held.

    The dialect's vendor SQL when it has some; otherwise jobs with equal return values (``None``
    for most) share one UPDATE.
    """
    if not items:
        return []
    done = dialect.finish_rows(using=using, items=items, process_id=process_id, now=now)
    if done is not None:
        return done
    ids = [job_id for job_id, _ in items]
    claims = ClaimedExecution.objects.using(using).filter(job_id__in=ids, process_id=process_id)
    held = set(dialect.lock(claims, "", skip_locked=False).values_list("job_id", flat=True))
    if not held:
        return []
    claims.filter(job_id__in=held).delete()
    groups: dict[str, tuple[Any, list[int]]] = {}
    for job_id, value in items:
        if job_id in held:
            # Unsorted keys: values differing only in key order are stored as each task returned them.
            groups.setdefault(json.dumps(value), (value, []))[1].append(job_id)
    for value, job_ids in groups.values():
        Job.objects.using(using).filter(id__in=job_ids).update(finished_at=now, return_value=value)
    return [job_id for job_id in ids if job_id in held]


def settle(by_id: dict[int, tuple[Job, object]], done: list[int], now) -> list[Job]:
    """The Job objects of a batch's finished ids, updated as their rows were.

    Jobs with a concurrency key never get here with their slot: ``split_steps`` finishes them.
    """
    finished = []
    for pk in done:
        job, value = by_id[pk]
        job.finished_at, job.return_value = now, value
        finished.append(job)
    return finished


def fail(job: Job, error: BaseException, *, process_id: int | None, using: str,
         traceback_text: str | None = None, policy: Policy | None = None, worker_id: str = "") -> str | None:
    """Record a failed attempt of a job ``process_id`` holds; return ``"retrying"`` or ``"failed"``.

    With a ``policy`` that allows another attempt for this error, the job is scheduled again after
    the policy's backoff (``dj_queue_job_retried`` fires); otherwise it ends FAILED
    (``dj_queue_job_failed``). Returns None, changing nothing, when the claim is gone.
    """
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    entry = error_entry(error, now, traceback_text=traceback_text, worker_id=worker_id)
    attempt = len(job.worker_ids or []) or 1
    retry_at = None
    try:
        if policy is not None and policy.should_retry(error, attempt):
            retry_at = now + timedelta(seconds=policy.delay(attempt))
    except Exception as exc:  # a broken backoff callable: the job must still leave its claim
        logger.error("dj_queue: job %s (%s): its retry policy failed (%r), so it ends FAILED without a retry",
                     job.pk, job.task_path, exc)
        retry_at = None
    with dialect.write_transaction(using):
        if not dialect.delete_claim(using, job.pk, process_id):
            return None
        job.errors = [*(job.errors or []), entry]
        if retry_at is not None and retry_at <= now and not job.concurrency_key:
            _update(job, using, errors=job.errors)
            _make_ready(job, using)  # no backoff: straight back to ready, no dispatcher round
        elif retry_at is not None:
            _schedule_retry(job, retry_at, now, using)
        else:
            _record_failed(job, error, entry, now, using)
        if job.concurrency_key:
            release_slot(job, using=using)
    if retry_at is not None:
        after_commit(using, job.backend_alias, "dj_queue_job_retried", job=job, error=error, run_at=retry_at)
        return RETRYING
    after_commit(using, job.backend_alias, "dj_queue_job_failed", job=job, error=error)
    return FAILED


def fail_unclaimed(job: Job, error: BaseException, *, using: str) -> None:
    """Record a job that never ran (e.g. discarded by a concurrency limit) as failed.

    The caller makes sure the job is in no other state, inside its own transaction or not;
    ``dj_queue_job_failed`` fires after commit.
    """
    now = timezone.now()
    with plugins.get_dialect(using).write_transaction(using):
        job.errors = [*(job.errors or []), error_entry(error, now)]
        _record_failed(job, error, job.errors[-1], now, using)
    after_commit(using, job.backend_alias, "dj_queue_job_failed", job=job, error=error)


def rescue(job: Job, error: BaseException, *, process_id: int | None, using: str, policy: Policy) -> str | None:
    """A job claimed by ``process_id``, which died: back to ready, or FAILED; return which.

    Under ``at_most_once`` a job that never started goes back to ready with nothing recorded:
    the start mark on its claim tells, read with the claim locked so a worker writing it at this
    moment is either seen or refused. ``at_least_once`` writes no start mark (it would cost a
    commit per job), so there every rescued job may have started. A job that may have started
    counts a crash: under ``at_least_once`` (or ``exactly_once``, whose transaction rolled back) it runs
    again until the crash limit, under ``at_most_once`` it ends FAILED. Returns None when the
    claim is gone (another recoverer handled it).
    """
    dialect = plugins.get_dialect(using)
    now = timezone.now()
    with dialect.write_transaction(using):
        claims = ClaimedExecution.objects.using(using).filter(job_id=job.pk, process_id=process_id)
        held = dialect.lock(claims, job.backend_alias, skip_locked=False).values_list("started_at").first()
        if held is None or not dialect.delete_claim(using, job.pk, process_id):
            return None
        again = policy.delivery == "at_least_once" or policy.exactly_once is not None
        if not again and held[0] is None:
            # The attempt never began: forget the worker id the claim appended.
            job.worker_ids = list(job.worker_ids or [])[:-1]
            _update(job, using, worker_ids=job.worker_ids)
            _make_ready(job, using)
            return READY
        job.crashes += 1
        if again and job.crashes >= policy.crash_limit:
            error = type(error)(f"{error} (crash limit of {policy.crash_limit} reached)")
            again = False
        job.errors = [*(job.errors or []), error_entry(error, now, traceback_text="")]
        if again:
            _update(job, using, errors=job.errors, crashes=job.crashes)
            _make_ready(job, using)
        else:
            _record_failed(job, error, job.errors[-1], now, using, crashes=job.crashes)
            if job.concurrency_key:
                release_slot(job, using=using)
    hook = "dj_queue_job_rescued" if again else "dj_queue_job_failed"
    after_commit(using, job.backend_alias, hook, job=job, error=error)
    return READY if again else FAILED


def _schedule_retry(job: Job, run_at: datetime, now: datetime, using: str) -> None:
    _update(job, using, errors=job.errors)
    ScheduledExecution.objects.using(using).create(
        job_id=job.pk, backend_alias=job.backend_alias, queue_name=job.queue_name, priority=job.priority,
        scheduled_at=run_at, concurrency_key=job.concurrency_key, created_at=now,
    )


def _make_ready(job: Job, using: str) -> None:
    ReadyExecution.objects.using(using).create(
        job_id=job.pk, backend_alias=job.backend_alias, queue_name=job.queue_name, priority=job.priority,
    )
    announce_ready(job.backend_alias, using, [job.queue_name])
    notify_after_commit(job.backend_alias, {job.queue_name}, using)


def _record_failed(job: Job, error: BaseException, entry: dict, now: datetime, using: str, **fields: Any) -> None:
    """The job's final state: a failed execution with this error, finished now."""
    FailedExecution.objects.using(using).create(
        job_id=job.pk, backend_alias=job.backend_alias, created_at=now,
        exception_class=entry["exception_class"], message=entry["message"], traceback=entry["traceback"],
    )
    _update(job, using, finished_at=now, errors=job.errors, **fields)
    job.finished_at = now
    if job.workflow_step_id is not None:  # same transaction: the workflow moves on with it
        workflows.step_ended(job, using, succeeded=False)


def _update(job: Job, using: str, **fields: Any) -> None:
    Job.objects.using(using).filter(id=job.pk).update(**fields)
