"""Settings of the chaos project. ``DJ_QUEUE_TEST_DB`` = sqlite (default) | postgres | mysql.

Connection details come from the same ``DJ_QUEUE_PG_*`` / ``DJ_QUEUE_MYSQL_*`` variables as the
test settings. The database is ``dj_queue_chaos`` plus ``DJ_QUEUE_TEST_DB_SUFFIX``, its own so a
run never touches anyone's test database; ``DJ_QUEUE_CHAOS_DB_NAME`` overrides it (the end-to-end
test points it at pytest's test database). Logging is Django's default.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "dj-queue-chaos"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["django.contrib.contenttypes", "dj_queue", "chaos.chaos_app"]

DB = os.environ.get("DJ_QUEUE_TEST_DB", "sqlite")
NAME = os.environ.get("DJ_QUEUE_CHAOS_DB_NAME") or f"dj_queue_chaos{os.environ.get('DJ_QUEUE_TEST_DB_SUFFIX', '')}"

if DB == "postgres":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_PG_PORT", "5432"),
        "CONN_MAX_AGE": None,
    }}
elif DB == "mysql":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
    }}
elif DB == "sqlite":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": NAME if NAME.endswith(".sqlite3") else str(HERE / f".{NAME}.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }}
else:
    raise RuntimeError(f"DJ_QUEUE_TEST_DB must be sqlite, postgres or mysql, not {DB!r}")

TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}}}
