"""Tasks the test suite enqueues and runs."""

from __future__ import annotations

from dj_queue.api import cancel_requested, exactly_once, rate_limit, retry, timeout
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


@task
@concurrency(key="serial:{group}", limit=1, duration=60)
def serial_step(group: str, index: int, seconds: float = 0.2) -> int:
    """Record start and end of each step; limit 1 per group means no two steps overlap."""
    import time

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=f"{group}:{index}:start")
    time.sleep(seconds)
    SideEffect.objects.create(key=f"{group}:{index}:end")
    return index


@task
@concurrency(key="exclusive:{name}", limit=1, on_conflict="discard")
def exclusive(name: str, seconds: float = 1.0) -> str:
    import time

    time.sleep(seconds)
    return name


@task
def flaky(key: str) -> str:
    """Fail on the first attempt, succeed on the next (the side-effect row remembers)."""
    from tests.tasks_app.models import SideEffect

    if SideEffect.objects.filter(key=key).exists():
        return "second time lucky"
    SideEffect.objects.create(key=key)
    raise RuntimeError("first attempt fails")


@task
def tick() -> None:
    """Fired by the recurring-task tests."""
    return None


@task(takes_context=True)
def sleep_on_first_attempt(context, key: str, seconds: float) -> int:
    """Record ``<key>:<attempt>``; the first attempt then sleeps (kill and timeout tests)."""
    import os
    import time

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=f"{key}:{context.attempt}", pid=os.getpid())
    if context.attempt == 1:
        time.sleep(seconds)
    return context.attempt


class Transient(Exception):
    """An error the retry tests retry on."""


@task(takes_context=True)
@retry(max_attempts=3, backoff=0, retry_on=(Transient,))
def fails_until(context, succeed_on: int, error: str = "transient") -> int:
    """Fail (``Transient`` or ``ValueError``) until attempt ``succeed_on``, then return the attempt."""
    if context.attempt < succeed_on:
        raise (Transient if error == "transient" else ValueError)(f"attempt {context.attempt} failed")
    return context.attempt


@task
@timeout(0.5)
def busy_loop(seconds: float) -> str:
    """Pure Python work: an interruption lands between bytecodes."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(100))
    return "done"


@task
@timeout(0.3)
def blocking_sleep(seconds: float) -> str:
    """A blocking C call ignores the interruption: the watchdog must retire the thread."""
    import time

    time.sleep(seconds)
    return "woke"


@task
@timeout(0.5)
async def async_sleep(seconds: float) -> str:
    import asyncio

    await asyncio.sleep(seconds)
    return "slept"


@task(takes_context=True)
def wait_for_cancel(context, key: str, seconds: float = 30) -> str:
    """Run until cancelled (checking ``cancel_requested``), recording that it started."""
    import os
    import time

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=f"{key}:started", pid=os.getpid())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cancel_requested(context):
            return "stopped early"
        time.sleep(0.05)
    return "never cancelled"


@task(takes_context=True)
@exactly_once
def write_exactly_once(context, key: str, seconds: float = 0, marker: str = "") -> int:
    """Write a row in the job's transaction; the first attempt then touches ``marker`` (a file: the
    row is invisible until the job completes) and sleeps, so a kill lands mid-body."""
    import os
    import time
    from pathlib import Path

    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=key, pid=os.getpid())
    if context.attempt == 1 and seconds:
        if marker:
            Path(marker).touch()
        time.sleep(seconds)
    return context.attempt


@task
def unsorted_keys() -> dict:
    """Keys in no sorted order, nested too: they must come back in this order."""
    return {"b": 1, "a": 2, "c": {"z": 1, "y": 2}}


@task
def echo(*args, **kwargs) -> list:
    """Its arguments as the function received them (key order included)."""
    return [list(args), kwargs]


@task
@rate_limit(key="e2e-rate", limit=5, period=1)
def rate_limited_record(key: str) -> str:
    """Record a side-effect row (its ``created_at`` is the start time the rate-limit test reads)."""
    from tests.tasks_app.models import SideEffect

    SideEffect.objects.create(key=key)
    return key


@task
@rate_limit(key="account:{account_id}", limit=2, period=60)
def per_account(account_id: int) -> int:
    return account_id
