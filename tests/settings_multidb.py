"""Settings with two databases: the application's ("default") and dj_queue's ("queue").

Used by the inner run of ``tests/test_multi_database.py`` (``--ds=tests.settings_multidb``).
Both aliases use the vendor ``DJ_QUEUE_TEST_DB`` picks: two SQLite files, or two PostgreSQL or
MariaDB/MySQL databases on one server. dj_queue's tables exist only on "queue".
"""

from __future__ import annotations

from tests.settings import *  # noqa: F401,F403
from tests.settings import BASE_DIR, DATABASES, DB, SUFFIX


def _alias(role: str) -> dict:
    config = {**DATABASES["default"], "TEST": dict(DATABASES["default"].get("TEST", {}))}
    if DB == "sqlite":
        stem = BASE_DIR.parent / f".test-dj_queue{SUFFIX}-multidb-{role}"
        config["NAME"] = f"{stem}.sqlite3"
        config["TEST"]["NAME"] = f"{stem}-test.sqlite3"
    else:
        config["NAME"] = f"dj_queue{SUFFIX}_{role}"
    return config


DATABASES = {"default": _alias("app"), "queue": _alias("queue")}
DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]

QUEUE_ALIAS = "queue"
TASKS = {
    "default": {
        "BACKEND": "dj_queue.backend.DjQueueBackend",
        "QUEUES": [],
        "OPTIONS": {"database_alias": QUEUE_ALIAS},
    }
}
