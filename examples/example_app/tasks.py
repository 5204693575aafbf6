"""Tasks the examples enqueue (an installed app, so workers may run them)."""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task


@task
def send_welcome_email(user_id: int, template: str = "welcome") -> str:
    return f"sent {template} to user {user_id}"


@task(queue_name="reports", priority=-10)
def build_report(month: str) -> dict:
    return {"month": month, "rows": 0}


@task(queue_name="emails", priority=20)
def send_password_reset(user_id: int) -> None:
    return None


@task
def resize_image(image_id: int, width: int = 640) -> int:
    return width
