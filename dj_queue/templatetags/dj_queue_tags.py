"""Template filters of the dashboard: ages, JSON previews and pretty JSON (all escaped later)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()

PREVIEW_CHARS = 80


@register.filter
def age(value: timedelta | None) -> str:
    """``timedelta`` -> "3d 4h", "2h 5m", "4m 10s", "12.3s"; "—" for nothing."""
    if value is None or value == "":
        return "—"
    seconds = max(value.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


@register.filter
def since(value: datetime | None) -> str:
    """How long ago ``value`` was."""
    return age(timezone.now() - value) if value else "—"


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
