"""``manage.py dj_queue_health``: a container health check on heartbeats, backlog and latency.

Exit codes: 0 healthy, 1 no process heartbeated recently, 2 a queue has more than
``--max-backlog`` ready jobs, 3 a queue's oldest ready job is older than ``--max-latency``.
The heartbeat check comes first, then backlog, then latency; the first failing one decides.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from dj_queue.durations import parse_duration, positive_seconds
from dj_queue.management.base import QueueCommand
from dj_queue.operations.processes import fresh_count
from dj_queue.operations.queues import queue_depths

NO_PROCESS, BACKLOG, LATENCY = 1, 2, 3


def _duration(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise CommandError(f"--max-latency: {exc}") from None


def worst(depths: list[dict[str, Any]], key: str, limit: float | None) -> dict[str, Any] | None:
    """The queue with the highest ``key`` above ``limit`` (None when every queue is within it)."""
    if limit is None:
        return None
    over = [queue for queue in depths if queue[key] > limit]
    return max(over, key=lambda queue: (queue[key], queue["name"]), default=None)


class Command(QueueCommand):
    help = ("Exit 0 when dj_queue processes of a backend heartbeated recently and its queues are within "
            "the given limits; 1 no fresh process, 2 backlog too large, 3 latency too high.")
    example = ("python manage.py dj_queue_health --max-age 120 --backend default\n"
               "python manage.py dj_queue_health --max-backlog 1000 --max-latency 5m")

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument("--max-age", type=positive_seconds, default=None,
                            help="seconds since the last heartbeat (default: process_alive_threshold)")
        parser.add_argument("--max-backlog", type=int, default=None,
                            help="exit 2 when a queue has more ready jobs than this")
        parser.add_argument("--max-latency", default=None,
                            help="exit 3 when a queue's oldest ready job is older than this (seconds, or 30s, 5m, 1h)")

    def handle(self, *args, **opts):
        alias = opts["backend"]
        options = self.options_of(alias)
        max_age = opts["max_age"] if opts["max_age"] is not None else float(options["process_alive_threshold"])
        if opts["max_backlog"] is not None and opts["max_backlog"] < 0:
            raise CommandError("--max-backlog must not be negative")
        max_latency = _duration(opts["max_latency"]) if opts["max_latency"] is not None else None
        using = options["database_alias"]
        count = fresh_count(backend_alias=alias, using=using, max_age=max_age)
        if not count:
            raise CommandError(
                f"unhealthy: no dj_queue process of backend {alias!r} heartbeated in the last {max_age:g}s",
                returncode=NO_PROCESS,
            )
        summary = f"{count} process(es) of backend {alias!r} heartbeated in the last {max_age:g}s"
        if opts["max_backlog"] is None and max_latency is None:
            self.stdout.write(f"healthy: {summary}")
            return
        self.check_queues(queue_depths(backend_alias=alias, using=using), alias, opts["max_backlog"], max_latency,
                          summary)

    def check_queues(self, depths: list[dict[str, Any]], alias: str, max_backlog: int | None,
                     max_latency: float | None, summary: str) -> None:
        if queue := worst(depths, "ready", max_backlog):
            raise CommandError(
                f"unhealthy: queue {queue['name']!r} of backend {alias!r} has {queue['ready']} ready jobs "
                f"(max {max_backlog})", returncode=BACKLOG,
            )
        if queue := worst(depths, "latency_seconds", max_latency):
            raise CommandError(
                f"unhealthy: the oldest ready job of queue {queue['name']!r} of backend {alias!r} is "
                f"{queue['latency_seconds']:.1f}s old (max {max_latency:g}s)", returncode=LATENCY,
            )
        most = max((queue["ready"] for queue in depths), default=0)
        oldest = max((queue["latency_seconds"] for queue in depths), default=0.0)
        self.stdout.write(f"healthy: {summary}; largest backlog {most} ready, oldest ready job {oldest:.1f}s old")
