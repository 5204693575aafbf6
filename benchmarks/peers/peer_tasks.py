"""The two tasks the Django-based peers (dj_queue and upstream dj-queue) run."""

from __future__ import annotations

from django.tasks import task

from common import write_stamp


@task
def noop() -> None:
    return None


@task
def stamp(path: str) -> None:
    write_stamp(path)
