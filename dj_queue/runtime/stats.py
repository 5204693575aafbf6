"""The periodic stats line of ``manage.py dj_queue --stats-every SECONDS``.

The supervisor calls ``StatsLogger.maybe_log()`` from its main loop; every ``every`` seconds it
logs one INFO line per queue on the ``dj_queue.stats`` logger. The figures come from a handful
of aggregate queries over the whole backend (queue depths plus the jobs finished since the
previous line), never from per-job bookkeeping, so any number of workers and hosts is covered.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from django.utils import timezone

from dj_queue.operations import queues
from dj_queue.runtime.polling import check_connections

logger = logging.getLogger("dj_queue.stats")

# The throughput window ends this long before "now": a worker stamps ``finished_at`` just before
# its transaction commits, so the newest second is left for the next line rather than missed.
SETTLE = timedelta(seconds=1)


def stats_line(queue: dict[str, Any], backend_alias: str) -> str:
    """One queue's line; ``finished_1m`` / ``failed_1m`` are jobs per minute over the interval."""
    return (f"dj_queue stats queue={queue['name']} ready={queue['ready']} scheduled={queue['scheduled']} "
            f"blocked={queue['blocked']} claimed={queue['claimed']} failed={queue['failed']} "
            f"finished_1m={queue['finished_1m']:.1f} failed_1m={queue['failed_1m']:.1f} "
            f"latency={queue['latency_seconds']:.1f}s paused={'yes' if queue['paused'] else 'no'} "
            f"backend={backend_alias}")


def stats_visible() -> Callable[[], None]:
    """Let INFO stats lines through when logging leaves ``dj_queue.stats`` unset: asking for
    ``--stats-every`` is asking to see them. Returns a function undoing it."""
    previous = logger.level
    if previous == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return lambda: logger.setLevel(previous)


class StatsLogger:
    """Logs the stats of one backend every ``every`` seconds; errors go to ``on_error``."""

    def __init__(self, *, backend_alias: str, using: str, every: float,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if every <= 0:
            raise ValueError("stats interval must be a positive number of seconds")
        self.backend_alias = backend_alias
        self.using = using
        self.every = every
        self.on_error = on_error
        self.since: datetime = timezone.now()
        self.next_at = time.monotonic() + every

    def maybe_log(self) -> None:
        """Log the stats when an interval has passed (called from the supervisor's loop)."""
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.every
        try:
            self.log()
        except Exception as exc:  # a failed stats query must never stop supervising
            if self.on_error is None:
                raise
            self.on_error(exc)
            check_connections()

    def log(self) -> list[dict[str, Any]]:
        """Log one line per queue now and start the next interval; returns the figures logged."""
        figures = self.collect()
        for queue in figures:
            logger.info("%s", stats_line(queue, self.backend_alias), extra={"dj_queue_stats": queue})
        if not figures:
            logger.info("dj_queue stats: backend %r has no waiting, running or failed jobs and none finished "
                        "since the last line", self.backend_alias)
        return figures

    def collect(self) -> list[dict[str, Any]]:
        until = max(timezone.now() - SETTLE, self.since)
        minutes = max((until - self.since).total_seconds(), 1e-3) / 60
        depths = {q["name"]: q for q in queues.queue_depths(backend_alias=self.backend_alias, using=self.using)}
        done = queues.finished_counts(backend_alias=self.backend_alias, using=self.using, since=self.since,
                                      until=until)
        self.since = until  # the next line counts from here: no job is counted twice
        for name in done.keys() - depths.keys():
            depths[name] = {"name": name, "ready": 0, "scheduled": 0, "blocked": 0, "claimed": 0, "failed": 0,
                            "latency_seconds": 0.0, "paused": False}
        figures = []
        for name in sorted(depths):
            counts = done.get(name, {"finished": 0, "failed": 0})
            figures.append({**depths[name], "finished_1m": counts["finished"] / minutes,
                            "failed_1m": counts["failed"] / minutes, "finished_in_interval": counts["finished"],
                            "failed_in_interval": counts["failed"], "interval_seconds": round(minutes * 60, 3)})
        return figures
