"""The one place that knows whether Django's ``django.tasks`` or the ``django_tasks`` backport is used.

Django 6.0+ ships ``django.tasks``; Django 5.2 LTS gets the same API from the ``django-tasks``
package. Everything else in dj_queue imports task-framework names from here.
"""

from __future__ import annotations

try:  # Django 6.0+
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started

    USING_BACKPORT = False
except ImportError:  # Django 5.2 + django-tasks backport
    from django_tasks import TaskContext, TaskResult, TaskResultStatus, task, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

    USING_BACKPORT = True

__all__ = [
    "USING_BACKPORT",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
