"""The demo's tasks: ordinary Django tasks, nothing dj_queue specific."""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task


@task
def send_receipt(order_id: int, email: str) -> str:
    return f"receipt for order {order_id} sent to {email}"


@task(queue_name="reports", priority=10)
def build_report(month: str) -> dict:
    return {"month": month, "orders": 0}


@task
def resize_image(image_id: int, width: int = 640) -> int:
    return width


@task
def charge_card(order_id: int) -> None:
    raise ValueError(f"card declined for order {order_id}")
