"""Tasks the workflow and progress tests run."""

from __future__ import annotations

import time

from dj_queue.api import concurrency, retry, set_progress
from dj_queue.compat import task
from dj_queue.workflows import update_workspace


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def square(x: int) -> int:
    return x * x


@task
def total(results: list, key: str) -> int:
    """A group callback: records ``key`` once (the unique key fails a second run) and sums."""
    import os

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=key, pid=os.getpid())
    return sum(results)


@task
def statuses(outcomes: list) -> list:
    return [outcome["status"] for outcome in outcomes]


@task
def boom(*args) -> None:
    raise ValueError("step failed")


@task
@retry(max_attempts=2, backoff=0)
def boom_twice() -> None:
    """Fails both of its two attempts."""
    raise ValueError("step failed again")


@task(takes_context=True)
def count_in_workspace(context, name: str) -> None:
    """Increment ``workspace["count"]`` and list ``name``: parallel members must lose no update."""
    def change(ws: dict) -> dict:
        time.sleep(0.01)  # widen the read-modify-write window a lost update would need
        return {**ws, "count": ws.get("count", 0) + 1, "names": [*ws.get("names", []), name]}

    update_workspace(context, change)


@task(takes_context=True)
def report_progress(context, release_key: str, timeout: float = 60) -> str:
    """Report 50% then wait (bounded) until the test writes ``release_key``."""
    from tests.tasks_app.models import SideEffect

    set_progress(context, 50, {"stage": "halfway"})
    deadline = time.monotonic() + timeout
    while not SideEffect.objects.filter(key=release_key).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.1)
    set_progress(context, 100, {"stage": "done"})
    return "done"


@task
def slow_square(x: int, seconds: float = 0.2) -> int:
    """A group member that takes a moment, so members of one group end close together."""
    time.sleep(seconds)
    return x * x


@task
@concurrency(key="wf-serial", limit=1, on_conflict="discard")
def serial_add(a: int, b: int) -> int:
    """One at a time, the rest discarded: a chain of these must hand its slot from step to step."""
    return a + b
