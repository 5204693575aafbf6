"""Test settings. ``DJ_QUEUE_TEST_DB`` = sqlite (default) | postgres | mysql picks the database.

Connection details come from ``DJ_QUEUE_PG_*`` / ``DJ_QUEUE_MYSQL_*``. ``DJ_QUEUE_TEST_DB_NAME``
points subprocesses (a runtime started by an end-to-end test) at the test database pytest created;
``DJ_QUEUE_PG_POOLED`` / ``DJ_QUEUE_PG_DIRECT_PORT`` put such a runtime behind PgBouncer.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "dj-queue-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "dj_queue",
    "tests.tasks_app",
    # Its models import tests.modelsearch, a package that is no app and defines a task.
    "tests.search_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
# Fast hashing: tests log users in often.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DB = os.environ.get("DJ_QUEUE_TEST_DB", "sqlite")
TEST_DB_NAME = os.environ.get("DJ_QUEUE_TEST_DB_NAME")
# Lets several test runs share one server without sharing a test database.
SUFFIX = os.environ.get("DJ_QUEUE_TEST_DB_SUFFIX", "")

if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": TEST_DB_NAME or f"dj_queue{SUFFIX}",
            "USER": os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
            "HOST": os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJ_QUEUE_PG_PORT", "5432"),
            "CONN_MAX_AGE": None,
            # Django's opt-in server-side parameter binding (one statement per query): the
            # server-binding test reruns part of the suite with it.
            "OPTIONS": {"server_side_binding": True} if os.environ.get("DJ_QUEUE_TEST_PG_SERVER_BINDING") else {},
        }
    }
    # An end-to-end test points a runtime at PgBouncer in transaction-pooling mode with
    # DJ_QUEUE_PG_PORT: Django's server-side cursors (DECLARE ... WITH HOLD) cannot live there.
    if os.environ.get("DJ_QUEUE_PG_POOLED"):
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # "direct": the same database without the pooler, for notify_database_alias.
    if os.environ.get("DJ_QUEUE_PG_DIRECT_PORT"):
        DATABASES["direct"] = {**DATABASES["default"], "PORT": os.environ["DJ_QUEUE_PG_DIRECT_PORT"],
                               "DISABLE_SERVER_SIDE_CURSORS": False}
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": TEST_DB_NAME or f"dj_queue{SUFFIX}",
            "USER": os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306"),
            "CONN_MAX_AGE": None,
            "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
            "TEST": {"CHARSET": "utf8mb4"},
        }
    }
elif DB == "sqlite":
    # A file, not :memory:, so threads and subprocesses share one database.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": TEST_DB_NAME or str(BASE_DIR.parent / f".test-dj_queue{SUFFIX}.sqlite3"),
            "OPTIONS": {"timeout": 20},
            "TEST": {"NAME": str(BASE_DIR.parent / f".test-dj_queue{SUFFIX}-test.sqlite3")},
        }
    }
else:
    raise RuntimeError(f"DJ_QUEUE_TEST_DB must be sqlite, postgres or mysql, not {DB!r}")

TASKS = {
    "default": {
        "BACKEND": "dj_queue.backend.DjQueueBackend",
        "QUEUES": [],
        "OPTIONS": {},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"dj_queue": {"handlers": ["console"], "level": os.environ.get("DJ_QUEUE_LOG_LEVEL", "WARNING")}},
}

# A runtime started by tests/plugins/test_otel.py exports its spans to this file.
if os.environ.get("DJ_QUEUE_TEST_OTEL_FILE"):
    from tests.otel_export import configure_from_env

    configure_from_env()
