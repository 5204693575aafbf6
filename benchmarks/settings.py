"""Settings for ``make bench``: ``DJ_QUEUE_BENCH_DB`` = sqlite | postgres | mysql."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "dj-queue-bench"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "dj_queue", "benchmarks.bench_app"]
NAME = os.environ.get("DJ_QUEUE_BENCH_DB_NAME", "dj_queue_bench")
VENDOR = os.environ.get("DJ_QUEUE_BENCH_DB", "sqlite")

if VENDOR == "postgres":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_PG_PORT", "5432"),
        "CONN_MAX_AGE": None,
    }}
elif VENDOR == "mysql":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(HERE / f"{NAME}.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }}

TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {
    # The development venv holds prometheus_client and the OpenTelemetry SDK for the tests, which
    # switch these two plugins on; a user's `pip install dj-queue[postgres]` has neither. Measure
    # what that install runs (make bench-peers installs it for real).
    "plugins": {"disable": ["dj_queue_plugins.prometheus", "dj_queue_plugins.otel"]},
}}}
# Silenced, except for the user-view drain, which keeps Django's default logging as a project has it.
if os.environ.get("DJ_QUEUE_BENCH_LOGGING") != "default":
    LOGGING = {"version": 1, "disable_existing_loggers": False,
               "root": {"handlers": [], "level": "WARNING"}}
