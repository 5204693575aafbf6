"""``manage.py dj_queue_prune``: delete old finished jobs, failed jobs and recurring reservations."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from django.core.management.base import CommandError

from dj_queue.config import backend_options
from dj_queue.exceptions import ConfigurationError
from dj_queue.management.base import QueueCommand
from dj_queue.operations import retention

UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[a-z]?)")
# Older than a century is beyond any retention policy, and "now minus" it would leave datetime's range.
LONGEST = timedelta(days=36500)


def age(value: str, flag: str = "--older-than") -> timedelta:
    """``90`` (seconds), ``90s``, ``30m``, ``1h``, ``7d`` or ``2w`` -> timedelta; ``CommandError`` otherwise."""
    text = value.strip().lower()
    if text.startswith("-"):
        raise CommandError(f"{flag} must not be negative, got {value!r}")
    match = _AGE.fullmatch(text)
    if match is None or match["unit"] not in UNITS:
        raise CommandError(f"{flag} {value!r} is not a duration: give seconds (90) or a number with "
                           "a unit s, m, h, d or w (30m, 1h, 7d, 2w)")
    seconds = float(match["number"]) * UNITS[match["unit"]]
    if not math.isfinite(seconds) or seconds > LONGEST.total_seconds():
        raise CommandError(f"{flag} {value!r} is too long: at most 100 years")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Kind:
    """One kind of row the command prunes."""

    flag: str  # the --*older-than option naming its age
    label: str
    grouped_by: tuple[str, str]  # (field to tally a dry run by, how the report names it)
    rows: Callable[..., Any]
    delete: Callable[..., int]
    filter_option: str


KINDS = (
    Kind("older_than", "finished jobs", ("task_path", "task path"), retention.finished_jobs,
         retention.delete_finished_jobs, "task_path"),
    Kind("failed_older_than", "failed jobs", ("job__task_path", "task path"), retention.failed_executions,
         retention.delete_failed_jobs, "task_path"),
    Kind("recurring_older_than", "recurring executions", ("task_key", "task key"), retention.recurring_executions,
         retention.delete_recurring_executions, "task_key"),
)


class Command(QueueCommand):
    help = "Delete old finished jobs, failed jobs and recurring-run reservations, in batches."
    example = ("python manage.py dj_queue_prune --older-than 7d --failed-older-than 30d --dry-run\n"
               "python manage.py dj_queue_prune --recurring-older-than 2w --task-key nightly-report")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="finished jobs older than this (e.g. 90, 30m, 12h, 7d, 2w)")
        parser.add_argument("--failed-older-than", help="failed jobs whose failure is older than this")
        parser.add_argument("--recurring-older-than", help="recurring reservations older than this")
        parser.add_argument("--task-path", help="only jobs of this task path (finished/failed cleanup)")
        parser.add_argument("--task-key", help="only reservations of this recurring task key")
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument("--batch-size", type=int, default=retention.BATCH,
                            help=f"rows deleted per transaction (default: {retention.BATCH})")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would be deleted (counts per task path / key); delete nothing")

    def handle(self, *args, **opts):
        # Every age is parsed before anything is deleted: a bad second flag must not follow a deletion.
        ages = {kind: age(opts[kind.flag], "--" + kind.flag.replace("_", "-")) for kind in KINDS if opts[kind.flag]}
        if not ages:
            raise CommandError("nothing to prune: give --older-than, --failed-older-than and/or --recurring-older-than")
        if opts["batch_size"] < 1:
            raise CommandError(f"--batch-size must be a positive number of rows, got {opts['batch_size']}")
        try:
            using = backend_options(opts["backend"])["database_alias"]
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        where = {"backend_alias": opts["backend"], "using": using}
        if opts["dry_run"]:
            self.dry_run(ages, where, opts)
            return
        removed = []
        for kind, older_than in ages.items():
            n = kind.delete(older_than=older_than, batch_size=opts["batch_size"], **where,
                            **{kind.filter_option: opts[kind.filter_option]})
            removed.append(f"{kind.label}: {n}")
        self.stdout.write(f"dj_queue_prune (backend {opts['backend']!r}) removed " + ", ".join(removed))

    def dry_run(self, ages: dict[Kind, timedelta], where: dict[str, str], opts: dict[str, Any]) -> None:
        totals, details = [], []
        for kind, older_than in ages.items():
            rows = kind.rows(older_than=older_than, **where, **{kind.filter_option: opts[kind.filter_option]})
            field, name = kind.grouped_by
            counts = retention.tally(rows, field)
            totals.append(f"{kind.label}: {sum(counts.values())}")
            if counts:
                details.append(f"  {kind.label} by {name}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
        self.stdout.write(f"dj_queue_prune (backend {opts['backend']!r}) dry run, nothing deleted; would remove "
                          + ", ".join(totals))
        for line in details:
            self.stdout.write(line)
