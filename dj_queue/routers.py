"""``DjQueueRouter``: keeps dj_queue's tables and traffic on the queue database alias.

Add ``"dj_queue.routers.DjQueueRouter"`` to ``DATABASE_ROUTERS`` when a backend's
``OPTIONS["database_alias"]`` is not ``"default"``.
"""

from __future__ import annotations

from typing import Any

APP_LABEL = "dj_queue"


def queue_aliases() -> list[str]:
    """Database aliases holding dj_queue tables, in ``TASKS`` order (first is the default)."""
    from django.conf import settings

    aliases: list[str] = []
    for params in (getattr(settings, "TASKS", {}) or {}).values():
        if params.get("BACKEND", "").endswith("DjQueueBackend"):
            alias = (params.get("OPTIONS") or {}).get("database_alias", "default")
            if alias not in aliases:
                aliases.append(alias)
    return aliases or ["default"]


class DjQueueRouter:
    """Route dj_queue's models to the queue alias; keep its migrations off every other alias."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return queue_aliases()[0] if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return queue_aliases()[0] if model._meta.app_label == APP_LABEL else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        if APP_LABEL in (obj1._meta.app_label, obj2._meta.app_label):
            return obj1._meta.app_label == obj2._meta.app_label
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == APP_LABEL:
            return db in queue_aliases()
        return None
