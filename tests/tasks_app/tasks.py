"""Tasks the test suite enqueues and runs."""

from __future__ import annotations

from dj_queue.compat import task


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
