"""Driver for dj_queue (``PEER_FLAVOUR=ours``, run in our venv) and upstream dj-queue
(``PEER_FLAVOUR=upstream``, run in its own venv): both are driven through ``django.tasks`` and
the ``dj_queue`` management command only."""

from __future__ import annotations

import os

import common

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_settings")


def setup() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def enqueue_noops(jobs: int) -> float:
    from django.db import connection

    from peer_tasks import noop

    connection.ensure_connection()
    return common.timed(lambda: noop.get_backend().enqueue_all([(noop, (), {})] * jobs))


def enqueue_stamp(path: str) -> None:
    from peer_tasks import stamp

    stamp.enqueue(path)


if __name__ == "__main__":
    import django

    django.setup()
    common.main(setup, enqueue_noops, lambda: enqueue_stamp)
