"""Durations typed by operators on the command line: ``90``, ``90s``, ``30m``, ``1h``, ``7d``."""

from __future__ import annotations

import math

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or a number followed by ``s``, ``m``, ``h`` or ``d``.

    ``parse_duration("1h") -> 3600.0``. Raises ``ValueError`` with a one-line message for
    negative, infinite or unreadable input.
    """
    text = str(value).strip().lower()
    scale = 1.0
    if text[-1:] in UNITS:
        text, scale = text[:-1], UNITS[text[-1]]
    try:
        seconds = float(text) * scale
    except ValueError:
        raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h or d") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h or d")
    if seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it must not be negative")
    return seconds
