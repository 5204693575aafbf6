"""``manage.py dj_queue_status``: every queue of a backend and its live processes, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any


from dj_queue.management.base import QueueCommand
from dj_queue.management.tables import table
from dj_queue.operations import processes, queues, ratelimits

QUEUE_COLUMNS = ("queue", "ready", "scheduled", "blocked", "claimed", "failed", "latency", "paused")
PROCESS_COLUMNS = ("kind", "name", "host", "pid", "heartbeat")


def seconds_text(value: float) -> str:
    return f"{value:.1f}s"


def queue_row(queue: dict[str, Any]) -> tuple[str, ...]:
    counts = tuple(str(queue[key]) for key in QUEUE_COLUMNS[1:6])
    return (queue["name"], *counts, seconds_text(queue["latency_seconds"]), "yes" if queue["paused"] else "no")


def process_row(process: dict[str, Any]) -> tuple[str, ...]:
    return (process["kind"], process["name"], process["hostname"], str(process["pid"]),
            f"{seconds_text(process['heartbeat_age_seconds'])} ago")


class Command(QueueCommand):
    help = "Show every queue of a backend (depths, latency, pause) and its live processes."
    example = ("python manage.py dj_queue_status --backend default\n"
               "python manage.py dj_queue_status --json")

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")

    def handle(self, *args, **opts):
        alias = opts["backend"]
        options = self.options_of(alias)
        using = options["database_alias"]
        depths = queues.queue_depths(backend_alias=alias, using=using)
        live = processes.live(backend_alias=alias, using=using, threshold=float(options["process_alive_threshold"]))
        # Scheduled jobs a rate limit sent back to wait (docs/rate-limits.md), counted among "scheduled".
        throttled = ratelimits.throttled_count(backend_alias=alias, using=using)
        if opts["json"]:
            for process in live:
                process["last_heartbeat_at"] = process["last_heartbeat_at"].isoformat()
            self.stdout.write(json.dumps({"backend": alias, "queues": depths, "processes": live,
                                          "throttled": throttled}))
            return
        self.stdout.write("\n".join(self.text(alias, depths, live, throttled)))

    def text(self, alias: str, depths: list[dict[str, Any]], live: list[dict[str, Any]],
             throttled: int = 0) -> list[str]:
        lines = [f"queues of backend {alias!r}:"]
        lines += table(QUEUE_COLUMNS, [queue_row(q) for q in depths]) if depths else ["  (none)"]
        if throttled:
            lines.append(f"throttled by rate limits (among scheduled): {throttled}")
        lines += ["", f"live processes: {len(live)}"]
        if live:
            lines += table(PROCESS_COLUMNS, [process_row(p) for p in live])
        return lines
