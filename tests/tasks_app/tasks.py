"""Tasks the test suite enqueues and runs."""

from __future__ import annotations

from dj_queue.compat import task
from dj_queue.concurrency import concurrency


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def noop() -> None:
    return None


@task(priority=10, queue_name="high")
def important(x: int) -> int:
    return x


@task
def fail(message: str = "boom") -> None:
    raise ValueError(message)


@task(takes_context=True)
def with_context(context, value: int) -> dict:
    return {"attempt": context.attempt, "id": context.task_result.id, "value": value}


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task
def returns_unserializable() -> object:
    return object()


@task
def calls_exit() -> None:
    import sys

    sys.exit(3)


@task
def record(key: str) -> str:
    """Insert one side-effect row; running a job twice fails it on the unique key."""
    import os

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=key, pid=os.getpid())
    return key


@task
def sleep_then_record(key: str, seconds: float) -> str:
    """Record ``<key>:started``, sleep, then record ``key`` (drain and kill tests watch both)."""
    import os
    import time

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=f"{key}:started", pid=os.getpid())
    time.sleep(seconds)
    SideEffect.objects.create(key=key, pid=os.getpid())
    return key


@task
@concurrency(key="account:{account_id}", limit=1, duration=60)
def sync_account(account_id: int, note: str = "") -> int:
    return account_id


@task
@concurrency(key="report:{kind}", limit=2, on_conflict="discard")
def build_report(kind: str) -> str:
    return kind
