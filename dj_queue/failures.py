"""How a failed attempt is written down: one ``Job.errors`` entry per failure."""

from __future__ import annotations

import traceback as tb
from datetime import datetime
from typing import Any


def error_entry(error: BaseException, now: datetime, *, traceback_text: str | None = None,
                worker_id: str = "") -> dict[str, Any]:
    """One ``Job.errors`` entry for a failed attempt."""
    return {
        "exception_class": exception_path(error),
        "message": str(error),
        "traceback": format_traceback(error) if traceback_text is None else traceback_text,
        "worker_id": worker_id,
        "failed_at": now.isoformat(),
    }


def exception_path(error: BaseException) -> str:
    """``module.QualName`` of the error's class, as Django's ``TaskError`` records it."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"[:255]  # the column's length


def format_traceback(error: BaseException) -> str:
    """The error with its traceback (just the exception line when it was never raised)."""
    return "".join(tb.format_exception(type(error), error, error.__traceback__))
