"""``manage.py dj_queue_failed list|retry|discard``: failed jobs, filtered, for operators.

``retry`` and ``discard`` act on every failed job matching the filters (or the ``--id`` values)
without asking; ``--dry-run`` prints what they would do instead.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError
from django.db.models import QuerySet

from dj_queue.compat import TaskResultDoesNotExist

from dj_queue.durations import parse_duration
from dj_queue.management.base import QueueCommand
from dj_queue.management.tables import table
from dj_queue.operations.failed import select_failed
from dj_queue.operations.jobs import discard_failed_job, retry_failed_jobs
from dj_queue.results import job_pk

ACTIONS = ("list", "retry", "discard")
RETRY_BATCH = 500
DEFAULT_LIMIT = 100
MESSAGE_WIDTH = 60


def job_id(value: str) -> int:
    """An ``argparse`` type: a job id, as ``get_result`` takes them (``results.job_pk``)."""
    try:
        return job_pk(value.strip())
    except TaskResultDoesNotExist:
        raise argparse.ArgumentTypeError(f"{value!r} is not a job id") from None


def jobs_text(n: int) -> str:
    return f"{n} failed job{'' if n == 1 else 's'}"


def short(text: str, width: int = MESSAGE_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def failed_row(failed: Any) -> tuple[str, ...]:
    return (str(failed.job_id), failed.created_at.strftime("%Y-%m-%d %H:%M:%S"), failed.job.queue_name,
            failed.job.task_path, failed.exception_class, short(failed.message))


class Command(QueueCommand):
    help = "List, retry or discard failed jobs, filtered by task, queue, exception class or age."
    example = ("python manage.py dj_queue_failed list --exception TimeoutError --newer-than 1h\n"
               "python manage.py dj_queue_failed retry --task shop.tasks.charge_card --dry-run")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("--task", help="only jobs of this task path")
        parser.add_argument("--queue", help="only jobs of this queue")
        parser.add_argument("--exception", help="exception class: dotted path or its last part (ValueError)")
        parser.add_argument("--older-than", help="failed more than this long ago (seconds, or 30m, 1h, 7d)")
        parser.add_argument("--newer-than", help="failed less than this long ago (seconds, or 30m, 1h, 7d)")
        parser.add_argument("--id", dest="ids", type=job_id, nargs="+", action="extend", help="only these job ids")
        parser.add_argument("--limit", type=int, help=f"list: show at most this many (default {DEFAULT_LIMIT})")
        parser.add_argument("--dry-run", action="store_true", help="retry/discard: print what would be done")
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")

    def handle(self, *args, **opts):
        action, alias = opts["action"], opts["backend"]
        if opts["limit"] is not None and action != "list":
            raise CommandError("--limit applies to list only")
        if opts["limit"] is not None and opts["limit"] <= 0:
            raise CommandError("--limit must be a positive number")
        if opts["dry_run"] and action == "list":
            raise CommandError("--dry-run applies to retry and discard only")
        using = self.options_of(alias)["database_alias"]
        selected = select_failed(
            backend_alias=alias, using=using, task=opts["task"], queue=opts["queue"], exception=opts["exception"],
            older_than=self.duration(opts, "older_than"), newer_than=self.duration(opts, "newer_than"),
            ids=opts["ids"],
        )
        if action == "list":
            self.list(selected, alias, opts["limit"] or DEFAULT_LIMIT)
        else:
            self.act(action, selected, alias, using, opts["dry_run"])

    def duration(self, opts: dict[str, Any], key: str) -> float | None:
        if opts[key] is None:
            return None
        try:
            return parse_duration(opts[key])
        except ValueError as exc:
            raise CommandError(f"--{key.replace('_', '-')}: {exc}") from None

    def list(self, selected: QuerySet, alias: str, limit: int) -> None:
        shown = list(selected[:limit])
        if not shown:
            self.stdout.write(f"no failed jobs of backend {alias!r} match")
            return
        header = ("id", "failed at", "queue", "task", "exception", "message")
        self.stdout.write("\n".join(table(header, [failed_row(f) for f in shown])))
        total = selected.count() if len(shown) == limit else len(shown)
        more = f", showing the newest {len(shown)}" if total > len(shown) else ""
        verb = "matches" if total == 1 else "match"
        self.stdout.write(f"{jobs_text(total)} of backend {alias!r} {verb}{more}")

    def act(self, action: str, selected: QuerySet, alias: str, using: str, dry_run: bool) -> None:
        ids = sorted(selected.values_list("job_id", flat=True))
        if dry_run:
            listed = f": {', '.join(map(str, ids))}" if ids else ""
            self.stdout.write(f"would {action} {jobs_text(len(ids))} of backend {alias!r}{listed}")
            return
        if action == "retry":
            done = sum(retry_failed_jobs(ids[i:i + RETRY_BATCH], using=using) for i in range(0, len(ids), RETRY_BATCH))
            self.stdout.write(f"retried {jobs_text(done)} of backend {alias!r}")
        else:
            # One transaction per job: each is checked to be still failed as it is deleted.
            done = sum(discard_failed_job(job_id, using=using) for job_id in ids)
            self.stdout.write(f"discarded {jobs_text(done)} of backend {alias!r}")
