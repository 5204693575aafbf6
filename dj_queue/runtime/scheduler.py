"""The scheduler: fires recurring tasks on time and runs maintenance plugins (cleanup).

It keeps the static tasks of ``OPTIONS["recurring"]`` in the table at start-up (unless a task path
does not resolve: then it logs why and leaves the stored tasks alone), then on every tick
fires each task's latest due run in its time zone (a unique reservation makes several schedulers fire it once),
calls ``dj_queue_scheduler_maintenance`` and sleeps until the next run is due or
``polling_interval`` passes, whichever is sooner.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from dj_queue import plugins
from dj_queue.runtime.base import Actor

logger = logging.getLogger("dj_queue.scheduler")


class Scheduler(Actor):
    kind = "scheduler"

    def __init__(self, *, dynamic_tasks_enabled: bool = False, polling_interval: float = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dynamic_tasks_enabled = bool(dynamic_tasks_enabled)
        self.polling_interval = float(polling_interval)

    def metadata(self) -> dict[str, Any]:
        return {"recurring": sorted(self.options["recurring"]), "dynamic_tasks_enabled": self.dynamic_tasks_enabled}

    def loop(self) -> None:
        from dj_queue.operations import recurring

        self._sync_static_tasks()
        while not self.stopping:
            tasks = self.poller.attempt("reading the recurring tasks", recurring.tasks_for,
                                        backend_alias=self.backend_alias, using=self.using,
                                        include_dynamic=self.dynamic_tasks_enabled) or []
            # Each fired run is logged where it is fired, with its task key, path and job id.
            self.poller.attempt("firing due recurring tasks", recurring.fire_due, backend_alias=self.backend_alias,
                                using=self.using, tasks=tasks)
            plugins.call_safely("dj_queue_scheduler_maintenance", on_error=self.on_error, scheduler=self)
            self.poller.wait(self._seconds_to_next_run(tasks))

    def _sync_static_tasks(self) -> None:
        from dj_queue.operations import recurring

        # Syncing rewrites the rows every scheduler of this backend fires from: a configuration
        # whose task paths do not resolve must not replace the stored tasks of a healthy one.
        problems = recurring.static_task_problems(self.options["recurring"], self.options["task_modules"])
        for problem in problems:
            logger.error("dj_queue scheduler: not syncing the recurring tasks of backend %r (the stored ones "
                         "are kept): %s", self.backend_alias, problem)
        if not problems:
            self.poller.attempt("syncing the static recurring tasks", recurring.sync_static_tasks,
                                self.options["recurring"], backend_alias=self.backend_alias, using=self.using)

    def _seconds_to_next_run(self, tasks: list) -> float:
        from dj_queue.cron import next_run

        now = timezone.now()
        wait = self.polling_interval
        for task in tasks:
            try:
                wait = min(wait, (next_run(task.schedule, now, task.timezone) - now).total_seconds())
            except Exception:  # a bad dynamic schedule or zone must not stop the others
                continue
        return max(wait, 0.01)
