"""What dj_queue's management commands share: one-line configuration errors and examples in ``--help``."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import DatabaseError

from dj_queue.checks import missing_tables_error, option_checks, setup_checks
from dj_queue.config import backend_options, database_for
from dj_queue.exceptions import ConfigurationError


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's argument order, with the epilog's example lines kept as written."""


class QueueCommand(BaseCommand):
    """Base of ``dj_queue``, ``dj_queue_status``, ``dj_queue_failed``, ``dj_queue_health`` and ``dj_queue_prune``.

    A broken configuration of the backend a command works on stops it with a one-line
    ``CommandError`` before Django's system checks would print it as a ``SystemCheckError``
    block (or, for a backend that cannot be read at all, as a traceback).
    """

    # Shown under "Example:" at the end of --help; one command per line.
    example = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if self.example:
            kwargs.setdefault("epilog", "Example:\n" + "\n".join(f"  {line}" for line in self.example.splitlines()))
        return super().create_parser(prog_name, subcommand, **kwargs)

    def options_of(self, alias: str) -> dict[str, Any]:
        """The backend's validated options; a one-line ``CommandError`` when they are invalid."""
        try:
            return backend_options(alias)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None

    def execute(self, *args: Any, **options: Any) -> Any:
        alias = options.get("backend") or "default"
        try:
            backend_options(alias)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if not options.get("skip_checks"):
            refuse_broken_backend(alias)
        try:
            return super().execute(*args, **options)
        except DatabaseError:
            error = missing_tables_error(database_for(alias))
            if error is not None:
                raise CommandError(str(error)) from None
            raise


def refuse_broken_backend(alias: str) -> None:
    """``CommandError`` with the first error the system checks find in ``TASKS[alias]``."""
    params = settings.TASKS[alias]
    errors = [m for m in (*setup_checks(alias, params), *option_checks(alias, params)) if m.is_serious()]
    if errors:
        more = f" (and {len(errors) - 1} more: run manage.py check)" if len(errors) > 1 else ""
        raise CommandError(f"{errors[0].id}: {errors[0].msg}{more}")
