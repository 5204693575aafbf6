"""Tasks of examples/workflows.py and examples/progress.py."""

from __future__ import annotations

import time

from dj_queue.api import set_progress
from dj_queue.compat import task
from dj_queue.workflows import update_workspace


@task
def fetch_order(order_id: int) -> dict:
    return {"order": order_id, "lines": [12, 30, 8]}


@task
def price_order(order: dict, vat: float) -> float:
    """The second step: gets the first step's return value first, then its own arguments."""
    return round(sum(order["lines"]) * (1 + vat), 2)


@task
def email_invoice(amount: float) -> str:
    return f"invoice for {amount} sent"


@task(takes_context=True)
def resize(context, size: int) -> str:
    """A group member; counts the images it made in the workflow's shared workspace."""
    update_workspace(context, lambda ws: {**ws, "images": ws.get("images", 0) + 1})
    return f"thumb-{size}.jpg"


@task
def publish(thumbnails: list) -> str:
    """The group's ``on_success`` callback: gets every member's return value, in order."""
    return "published " + ", ".join(thumbnails)


@task
def charge(amount: float) -> None:
    raise ValueError(f"card declined for {amount}")


@task(takes_context=True)
def import_rows(context, rows: int) -> int:
    """Reports its progress every 20% of the rows, with the row it reached as metadata."""
    for done in range(0, rows + 1, rows // 5):
        set_progress(context, 100 * done / rows, {"row": done})
        time.sleep(0.3)
    return rows
