"""Tasks whose arguments the dashboard redacts (tests/admin/test_redaction.py)."""

from __future__ import annotations

from dj_queue.compat import task


@task
def charge(card_number: str, amount: int, note: dict | None = None) -> None:
    """Names ``card_number`` secret; the backend's ``redact_keys`` add more."""


charge.func.redact = ["card_number"]


@task(takes_context=True)
def sign_in(context, user: str, password: str) -> None:
    """Its context comes first, so its second parameter is the first stored argument."""
