"""Rate limits declared on tasks, and the worker-level limit a runtime enforces by itself.

Declare a task's limit with the decorator (above or below ``@task``)::

    @task
    @rate_limit(key="api:{account_id}", limit=10, period=60)
    def call_api(account_id): ...

or with function attributes: ``func.rate_limit_key``, ``rate_limit_limit``,
``rate_limit_period``. The key is a template formatted with the job's arguments, as concurrency
keys are (or a fixed string, or a callable). At most ``limit`` jobs of one key start in ANY
window of ``period`` seconds, across every worker: see ``dj_queue.operations.ratelimits`` and
docs/rate-limits.md.
"""

from __future__ import annotations

import math

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from dj_queue.concurrency import Concurrency, resolve_key
from dj_queue.exceptions import EnqueueError

ATTRS = ("rate_limit_key", "rate_limit_limit", "rate_limit_period")


@dataclass(frozen=True)
class RateLimit:
    key: str | Callable[..., str]
    limit: int
    period: float


def rate_limit(*, key: str | Callable[..., str], limit: int, period: float) -> Callable[[Any], Any]:
    """Start at most ``limit`` jobs of ``key`` in any window of ``period`` seconds; delay the rest."""
    check(key, limit, period, "rate_limit(...)")

    def decorate(target: Any) -> Any:
        func = getattr(target, "func", target)
        func.rate_limit_key, func.rate_limit_limit, func.rate_limit_period = key, limit, period
        return target

    return decorate


def settings_for(task: Any) -> RateLimit | None:
    """The task's validated rate limit, or None when it declares none; ``EnqueueError`` if invalid."""
    func = getattr(task, "func", task)
    key, limit, period = (getattr(func, name, None) for name in ATTRS)
    if key is None and limit is None and period is None:
        return None
    name = getattr(task, "module_path", getattr(func, "__qualname__", repr(func)))
    check(key, limit, period, f"task {name}: rate limit")
    return RateLimit(key, limit, float(period))


def check(key: Any, limit: Any, period: Any, what: str) -> None:
    if not callable(key) and (not isinstance(key, str) or not key.strip()):
        raise EnqueueError(f"{what}: key must be a non-empty string template or a callable, got {key!r}")
    if type(limit) is not int or limit < 1:
        raise EnqueueError(f"{what}: limit must be a positive int, got {limit!r}")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not 0 < period < math.inf:
        raise EnqueueError(f"{what}: period must be positive seconds, got {period!r}")


def key_of(task: Any, settings: RateLimit, args: Any, kwargs: dict) -> str:
    """The rate-limit key of one job; ``EnqueueError`` when it cannot be built."""
    # Same rules as concurrency keys (formatting, length), so one reading of "key template".
    shaped = Concurrency(settings.key, settings.limit)
    try:
        return resolve_key(task, shaped, args, kwargs)
    except EnqueueError as exc:
        raise EnqueueError(str(exc).replace("concurrency key", "rate-limit key")) from None


def parse_rate(value: str) -> tuple[int, float]:
    """``"10/60"`` -> ``(10, 60.0)``: at most 10 jobs per 60 seconds; ``ValueError`` otherwise."""
    count, sep, seconds = str(value).partition("/")
    try:
        limit, period = int(count), float(seconds)
    except ValueError:
        limit, period = 0, 0.0
    if not sep or limit < 1 or not period > 0 or period == float("inf"):
        raise ValueError(f'rate_limit must be "JOBS/SECONDS" with both positive (e.g. "10/60"), got {value!r}')
    return limit, period


class LocalRateLimit:
    """A worker's own limit: at most ``limit`` jobs claimed in any ``period`` seconds, in memory.

    A sliding log of claim times (monotonic clock); no database, so it binds one worker only.
    """

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.period, self.clock = limit, period, clock
        self._starts: deque[float] = deque()

    @classmethod
    def from_option(cls, value: str | None) -> LocalRateLimit | None:
        return None if value is None else cls(*parse_rate(value))

    def allowance(self, wanted: int) -> int:
        """How many of ``wanted`` jobs may be claimed now."""
        self._prune()
        return max(0, min(wanted, self.limit - len(self._starts)))

    def record(self, count: int) -> None:
        now = self.clock()
        self._starts.extend([now] * count)

    def wait_seconds(self) -> float:
        """Seconds until a slot frees (0 when one is free now)."""
        self._prune()
        if len(self._starts) < self.limit:
            return 0.0
        return max(0.0, self._starts[len(self._starts) - self.limit] + self.period - self.clock())

    def _prune(self) -> None:
        horizon = self.clock() - self.period
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()
