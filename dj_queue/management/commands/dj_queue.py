"""``manage.py dj_queue``: run the supervisor of one backend (workers, dispatchers, scheduler)."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from dj_queue.config import MODES
from dj_queue.exceptions import ConfigurationError
from dj_queue.runtime.options import load_options
from dj_queue.runtime.supervisor import build_supervisor


class Command(BaseCommand):
    help = "Run dj_queue's workers, dispatchers and scheduler for one TASKS backend."

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="TASKS alias to serve (default: default)")
        parser.add_argument("--mode", choices=MODES, help="fork: a process per actor; async: threads")
        parser.add_argument("--config", dest="config_path", help="YAML file of options merged over OPTIONS")
        parser.add_argument("--only-work", action="store_true", help="run workers only")
        parser.add_argument("--only-dispatch", action="store_true", help="run dispatchers only")
        parser.add_argument("--skip-recurring", action="store_true", help="do not run the scheduler")

    def handle(self, *args, **opts):
        if opts["only_work"] and opts["only_dispatch"]:
            raise CommandError("--only-work and --only-dispatch exclude each other")
        try:
            options = load_options(opts["backend"], config_path=opts["config_path"], mode=opts["mode"],
                                   skip_recurring=opts["skip_recurring"] or None)
            supervisor = build_supervisor(options, backend_alias=opts["backend"], only_work=opts["only_work"],
                                          only_dispatch=opts["only_dispatch"])
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if not supervisor.slots:
            raise CommandError("nothing to run: no workers, dispatchers or scheduler configured")
        if logging.getLogger("dj_queue").level == logging.NOTSET and opts["verbosity"] >= 2:
            logging.getLogger("dj_queue").setLevel(logging.INFO)
        try:
            code = supervisor.run()
        except ConfigurationError as exc:  # e.g. the pidfile is held by a live supervisor
            raise CommandError(str(exc)) from None
        if code:
            raise CommandError("dj_queue stopped with errors", returncode=code)
