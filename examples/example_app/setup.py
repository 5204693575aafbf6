"""The database every example uses: SQLite by default, a server when DJ_QUEUE_EXAMPLE_DB says so."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable


def database() -> dict:
    """SQLite by default; PostgreSQL or MariaDB/MySQL when DJ_QUEUE_EXAMPLE_DB says so."""
    kind = os.environ.get("DJ_QUEUE_EXAMPLE_DB", "sqlite")
    name = os.environ.get("DJ_QUEUE_EXAMPLE_DB_NAME", "dj_queue_examples")
    if kind == "postgres":
        return {"ENGINE": "django.db.backends.postgresql", "NAME": name,
                "USER": os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
                "PASSWORD": os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
                "HOST": os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
                "PORT": os.environ.get("DJ_QUEUE_PG_PORT", "5432")}
    if kind == "mysql":
        return {"ENGINE": "django.db.backends.mysql", "NAME": name,
                "USER": os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
                "PASSWORD": os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
                "HOST": os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
                "PORT": os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306"),
                "OPTIONS": {"charset": "utf8mb4"}}
    if kind != "sqlite":
        raise SystemExit(f"DJ_QUEUE_EXAMPLE_DB must be sqlite, postgres or mysql, not {kind!r}")
    path = os.environ.get("DJ_QUEUE_EXAMPLE_SQLITE") or os.path.join(tempfile.gettempdir(), "dj_queue_examples.sqlite3")
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}


def configure(options: dict | None = None, **extra) -> None:
    """Configure Django for an example: dj_queue on ``database()``, ``OPTIONS`` as given."""
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["dj_queue", "example_app"],
        DATABASES={"default": database()},
        DATABASE_ROUTERS=["dj_queue.routers.DjQueueRouter"],
        TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": options or {}}},
        USE_TZ=True,
        **extra,
    )
    django.setup()


def wait_for(condition: Callable[[], object], timeout: float = 20) -> None:
    """Poll ``condition`` until it is true; stop the example if the runtime takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the runtime")
        time.sleep(0.05)
