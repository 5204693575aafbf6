"""``manage.py dj_queue_health``: exit 0 when fresh process rows exist (a container health check)."""

from __future__ import annotations

from django.core.management.base import CommandError

from dj_queue.config import backend_options
from dj_queue.exceptions import ConfigurationError
from dj_queue.management.base import QueueCommand
from dj_queue.operations.processes import fresh_count


class Command(QueueCommand):
    help = "Exit 0 when dj_queue processes of a backend heartbeated recently, 1 otherwise."
    example = "python manage.py dj_queue_health --max-age 120 --backend default"

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument("--max-age", type=float, default=None,
                            help="seconds since the last heartbeat (default: process_alive_threshold)")

    def handle(self, *args, **opts):
        try:
            options = backend_options(opts["backend"])
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        max_age = opts["max_age"] if opts["max_age"] is not None else float(options["process_alive_threshold"])
        if max_age <= 0:
            raise CommandError("--max-age must be a positive number of seconds")
        count = fresh_count(backend_alias=opts["backend"], using=options["database_alias"], max_age=max_age)
        if not count:
            raise CommandError(
                f"unhealthy: no dj_queue process of backend {opts['backend']!r} heartbeated "
                f"in the last {max_age:g}s", returncode=1,
            )
        self.stdout.write(f"healthy: {count} process(es) of backend {opts['backend']!r} "
                          f"heartbeated in the last {max_age:g}s")
