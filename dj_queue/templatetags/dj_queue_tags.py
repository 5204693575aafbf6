"""Template filters of the dashboard: times, ages, JSON previews, pretty JSON and tracebacks.

Filters return plain text (escaped by the template) except ``when``, which builds its markup
with ``format_html`` so every value in it is escaped.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dj_queue.dashboard.health import failure_kind
from dj_queue.dashboard.redaction import redacted_call
from dj_queue.tracebacks import user_frames_first

register = template.Library()

PREVIEW_CHARS = 80


@register.filter
def age(value: timedelta | None) -> str:
    """``timedelta`` -> "12 s", "4 min 10 s", "2 h 5 min", "3 d 4 h"; "—" for nothing."""
    if value is None or value == "":
        return "—"
    return duration(max(value, timedelta(0)))


def duration(value: timedelta) -> str:
    seconds = int(abs(value.total_seconds()))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@register.filter
def since(value: datetime | None) -> str:
    """How long ago ``value`` was."""
    return age(timezone.now() - value) if value else "—"


def relative(value: timedelta) -> str:
    """A signed ``timedelta`` as "12 s ago", "in 4 min 10 s", "3 h 5 min ago", "2 d 4 h ago"."""
    text = duration(value)
    return f"in {text}" if value.total_seconds() <= -1 else f"{text} ago"


@register.filter
def when(value: datetime | str | None) -> SafeString | str:
    """A moment with seconds and the time zone, and how long ago (or how soon) it is.

    ``2026-11-30 18:11:07 UTC (12 s ago)``, in the current time zone (``TIME_ZONE``). Accepts ISO
    strings too, as ``Job.errors`` stores its ``failed_at``.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if not value:
        return "—"
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{}</time> <span class="djq-ago">({})</span>',
                       value.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z"),
                       relative(timezone.now() - value))


@register.filter
def ago(value: datetime | None) -> str:
    """Only the relative part of ``when``: "12 s ago"."""
    return relative(timezone.now() - value) if value else "—"


@register.filter
def folded(text: str | None) -> tuple[str, str]:
    """``(user_part, framework_part)`` of a traceback; see ``dj_queue.tracebacks``."""
    return user_frames_first(text or "")


@register.filter
def outcome(exception_class: str | None) -> str:
    """"cancelled", "discarded" (by a concurrency limit) or "failed", for a failed job's error class."""
    return failure_kind(exception_class)


@register.filter
def minus(later: datetime | None, earlier: datetime | None) -> timedelta | None:
    return later - earlier if later and earlier else None


@register.filter
def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Compact JSON of ``value``, cut to ``limit`` characters so huge arguments stay readable."""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter
def pretty(value: Any) -> str:
    """Indented JSON of ``value``."""
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)


@register.filter
def stale(age_value: timedelta | None, threshold: float) -> bool:
    """Whether a heartbeat this old is past the backend's ``process_alive_threshold``."""
    return age_value is not None and age_value.total_seconds() > float(threshold)


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return mapping.get(key)


@register.filter
def redacted(job: Any, part: str) -> Any:
    """``job.args`` or ``job.kwargs`` (``part``) with secret values shown as ``***``."""
    args, kwargs = redacted_call(job)
    return args if part == "args" else kwargs
