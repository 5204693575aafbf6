"""Django settings for the Django-based peers: PEER_FLAVOUR = ours | upstream, PEER_DB_VENDOR =
postgres | mysql | sqlite, PEER_DB_NAME = the database (or SQLite file) of this peer.

LOGGING is left unset on purpose: Django's default logging configuration is what a user has.
"""

from __future__ import annotations

import os

SECRET_KEY = "dj-queue-bench-peers"
USE_TZ = True
FLAVOUR = os.environ.get("PEER_FLAVOUR", "ours")
VENDOR = os.environ.get("PEER_DB_VENDOR", "postgres")
NAME = os.environ["PEER_DB_NAME"]
INSTALLED_APPS = ["django.contrib.contenttypes", "dj_queue"]

if VENDOR == "postgres":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_PG_PORT", "5432"),
    }}
elif VENDOR == "mysql":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql", "NAME": NAME,
        "USER": os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
        "HOST": os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
    }}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": NAME,
                             "OPTIONS": {"timeout": 20}}}
# Persistent connections for both: with Django's default CONN_MAX_AGE=0 upstream reconnects per job.
DATABASES["default"]["CONN_MAX_AGE"] = None

TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}}}
if FLAVOUR == "ours":
    TASKS["default"]["OPTIONS"] = {"task_modules": ["peer_tasks"],
                                   "synchronous_turns": os.environ.get("PEER_SYNCHRONOUS_TURNS") != "0"}
else:
    # Upstream reads its runtime from OPTIONS; the same topology as benchmarks/runtime.yml.
    DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]
    TASKS["default"]["OPTIONS"] = {
        "workers": [{"queues": "*", "threads": 4, "processes": 2, "polling_interval": 0.1}],
        "dispatchers": [{"batch_size": 500, "polling_interval": 1}],
        "process_heartbeat_interval": 5,
        "shutdown_timeout": 5,
    }
