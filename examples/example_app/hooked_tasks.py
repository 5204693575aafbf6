"""Tasks of the unique-jobs and per-task-hooks examples."""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task

from dj_queue.api import on_failure, retry, should_enqueue, unique

BLOCKED_ACCOUNTS = {13}
# Job ids alert_ops was called for (the example waits on it).
ALERTED: list[str] = []


@task
@unique(key="report:{account_id}")
def build_report(account_id: int, requested_by: str = "") -> str:
    return f"report for account {account_id}"


@task
@unique(key="digest:{user_id}", period=3600, states=["ready", "scheduled", "claimed", "successful"])
def send_digest(user_id: int) -> str:
    return f"digest sent to user {user_id}"


def alert_ops(result, error) -> None:
    # Runs in the worker, after the failure committed; print stands in for a pager or a chat post.
    print(f"on_failure: job {result.id} ({result.task.name}) is {result.status}: {error!r}", flush=True)
    ALERTED.append(result.id)


@task
@should_enqueue(lambda account_id: account_id not in BLOCKED_ACCOUNTS)
@retry(max_attempts=2, backoff=0)
@on_failure(alert_ops)
def charge_account(account_id: int) -> str:
    if account_id == 7:
        raise RuntimeError(f"payment gateway refused account {account_id}")
    return f"charged account {account_id}"
