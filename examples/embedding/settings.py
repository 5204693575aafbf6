"""Settings of the embedding examples: SQLite by default, like every example (see examples/README.md)."""

from __future__ import annotations

from example_app.setup import database as example_database


def database() -> dict:
    """The examples' database; on SQLite with a generous timeout, since web threads, queue threads
    (and Gunicorn workers) share one file."""
    config = example_database()
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {"timeout": 20}
    return config


SECRET_KEY = "dj-queue-embedding-example"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["dj_queue", "example_app"]
ROOT_URLCONF = "embedding.urls"
DATABASES = {"default": database()}
DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]
TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {
    # Embedded supervisors always run in async mode: actors are threads of the server process.
    "workers": [{"queues": "*", "threads": 2, "polling_interval": 1}],
    "shutdown_timeout": 5,
}}}
