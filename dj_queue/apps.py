from __future__ import annotations

from django.apps import AppConfig


class DjQueueConfig(AppConfig):
    name = "dj_queue"
    label = "dj_queue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dj_queue import checks  # noqa: F401  (registers system checks)
        from dj_queue.plugins import get_plugin_manager

        get_plugin_manager()
