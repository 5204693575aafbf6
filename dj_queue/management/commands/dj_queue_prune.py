"""``manage.py dj_queue_prune``: delete old finished jobs, failed jobs and recurring reservations."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from dj_queue.config import backend_options
from dj_queue.exceptions import ConfigurationError
from dj_queue.operations import retention


def seconds(value: str) -> timedelta:
    """``3600``, ``90s``, ``30m``, ``12h`` or ``7d`` -> timedelta."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    try:
        if text and text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(seconds=float(text))
    except ValueError:
        raise CommandError(f"{value!r} is not a duration: use seconds or a number with s, m, h or d") from None


class Command(BaseCommand):
    help = "Delete old finished jobs, failed jobs and recurring-run reservations, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="finished jobs older than this (e.g. 86400, 12h, 7d)")
        parser.add_argument("--failed-older-than", help="failed jobs whose failure is older than this")
        parser.add_argument("--recurring-older-than", help="recurring reservations older than this")
        parser.add_argument("--task-path", help="only jobs of this task path (finished/failed cleanup)")
        parser.add_argument("--task-key", help="only reservations of this recurring task key")
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument("--batch-size", type=int, default=retention.BATCH)

    def handle(self, *args, **opts):
        if not (opts["older_than"] or opts["failed_older_than"] or opts["recurring_older_than"]):
            raise CommandError("nothing to prune: give --older-than, --failed-older-than and/or --recurring-older-than")
        try:
            using = backend_options(opts["backend"])["database_alias"]
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        kw = {"backend_alias": opts["backend"], "using": using, "batch_size": opts["batch_size"]}
        lines = []
        if opts["older_than"]:
            n = retention.delete_finished_jobs(older_than=seconds(opts["older_than"]), task_path=opts["task_path"], **kw)
            lines.append(f"finished jobs: {n}")
        if opts["failed_older_than"]:
            n = retention.delete_failed_jobs(older_than=seconds(opts["failed_older_than"]), task_path=opts["task_path"], **kw)
            lines.append(f"failed jobs: {n}")
        if opts["recurring_older_than"]:
            n = retention.delete_recurring_executions(
                older_than=seconds(opts["recurring_older_than"]), task_key=opts["task_key"], **kw)
            lines.append(f"recurring executions: {n}")
        self.stdout.write(f"dj_queue_prune (backend {opts['backend']!r}) removed " + ", ".join(lines))
