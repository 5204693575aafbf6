from __future__ import annotations

from django.apps import AppConfig


class DjQueueConfig(AppConfig):
    name = "dj_queue"
    label = "dj_queue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: these modules need the models, which are not loaded yet
        # when Django imports this AppConfig.
        from dj_queue import checks  # noqa: F401  (registers system checks)
        from dj_queue.operations import jobs
        from dj_queue.plugins import get_plugin_manager

        # FailedExecution.retry() and friends call the transitions through this.
        self.job_operations = jobs
        get_plugin_manager()
