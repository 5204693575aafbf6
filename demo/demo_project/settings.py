"""Settings of the demo project: SQLite in demo/, dj_queue as the default task backend."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "dj-queue-demo-not-secret"
DEBUG = True
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "dj_queue",
    "shop",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJ_QUEUE_DEMO_SQLITE") or str(BASE_DIR / "demo.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]

TASKS = {
    "default": {
        "BACKEND": "dj_queue.backend.DjQueueBackend",
        "QUEUES": [],  # every queue name is allowed
        # Short intervals so the demo finishes in seconds; the defaults suit production.
        "OPTIONS": {
            "mode": "async",
            "workers": [{"queues": "*", "threads": 3, "polling_interval": 0.1}],
            "dispatchers": [{"batch_size": 100, "polling_interval": 0.2}],
            "process_heartbeat_interval": 5,
        },
    }
}
