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


# --- recurring.py, concurrency.py and retry_failed.py use these ---

import time  # noqa: E402

from dj_queue.concurrency import concurrency  # noqa: E402


@task
def heartbeat_ping(source: str = "static") -> str:
    return f"ping from {source}"


@task
@concurrency(key="account:{account_id}", limit=1, duration=60)
def sync_account(account_id: int, step: int) -> dict:
    started = time.time()
    time.sleep(0.2)  # long enough that overlapping runs would show
    return {"step": step, "started": started, "finished": time.time()}


@task
@concurrency(key="feed:{feed_id}", limit=1, on_conflict="discard")
def import_feed(feed_id: int) -> int:
    return feed_id


@task(takes_context=True)
def charge_once_flaky(context, order_id: int) -> str:
    if context.attempt == 1:
        raise ValueError(f"card declined for order {order_id}")
    return f"charged order {order_id} on attempt {context.attempt}"


# --- retries.py, timeouts.py and cancel.py use these ---

from dj_queue.api import cancel_requested, rate_limit, retry, timeout  # noqa: E402


class GatewayBusy(Exception):
    """A transient error worth retrying."""


@task(takes_context=True)
@retry(max_attempts=4, backoff=lambda attempt: 0.2 * attempt, retry_on=(GatewayBusy,))
def charge_card(context, order_id: int) -> str:
    if context.attempt < 3:
        raise GatewayBusy(f"gateway busy for order {order_id} (attempt {context.attempt})")
    return f"charged order {order_id} on attempt {context.attempt}"


@task
@retry(max_attempts=4, backoff=0, retry_on=(GatewayBusy,))
def charge_bad_card(order_id: int) -> str:
    raise ValueError(f"card number of order {order_id} is invalid")  # not retried: not a GatewayBusy


@task
@timeout(0.5)
def crunch_numbers(seconds: float) -> int:
    end, total = time.monotonic() + seconds, 0
    while time.monotonic() < end:  # pure Python work: the timeout interrupts it
        total += sum(range(1000))
    return total


@task(takes_context=True)
def export_everything(context, rows: int) -> str:
    for row in range(rows):
        if cancel_requested(context):
            return f"stopped at row {row}"
        time.sleep(0.05)
    return "exported"


@task
@rate_limit(key="partner:{partner}", limit=3, period=1)
def call_partner_api(partner: str, request: int) -> float:
    """Stands for a call to a partner's API that allows 3 requests a second per partner."""
    return time.time()
