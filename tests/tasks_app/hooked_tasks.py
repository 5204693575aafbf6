"""Tasks declaring unique keys and per-task hooks (tests of dj_queue.unique and task_hooks)."""

from __future__ import annotations

from dj_queue.api import on_failure, retry, should_enqueue, unique
from dj_queue.compat import task

# What the hooks below saw, for the tests to read.
FAILURES: list = []


@task
@unique(key="report:{account_id}")
def unique_report(account_id: int, note: str = "") -> int:
    return account_id


@task
@unique(key="short:{account_id}", period=60, states=["ready", "scheduled", "successful"])
def unique_short(account_id: int) -> int:
    return account_id


@task
def unique_on_arguments(a: int, b: int = 0) -> int:
    return a + b


unique_on_arguments.func.unique = True


@task
@should_enqueue(lambda amount: amount > 0)
def positive_only(amount: int) -> int:
    return amount


def _remember(result, error) -> None:
    FAILURES.append((result.id, result.status, type(error).__name__))


@task
@on_failure(_remember)
def always_fails(message: str = "boom") -> None:
    raise ValueError(message)


@task
@on_failure(lambda result, error: 1 / 0)
def fails_with_broken_callback() -> None:
    raise ValueError("boom")


@task
@retry(max_attempts=2, backoff=0)
@on_failure(_remember)
def fails_twice() -> None:
    raise ValueError("again")


# Concurrency controls in the original dj_queue README's spelling: function attributes only.
@task
def seed_discard(account_id: int, action: str) -> str:
    return f"{account_id}:{action}"


seed_discard.func.concurrency_key = "seed:{account_id}"
seed_discard.func.concurrency_limit = 1
seed_discard.func.concurrency_duration = 60
seed_discard.func.on_conflict = "discard"


@task
def seed_block(account_id: int, action: str) -> str:
    return f"{account_id}:{action}"


seed_block.func.concurrency_key = "seed-block:{account_id}"
seed_block.func.concurrency_limit = 1
seed_block.func.concurrency_duration = 60
seed_block.func.on_conflict = "block"
