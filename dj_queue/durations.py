"""Durations typed by operators on the command line: ``90``, ``90s``, ``30m``, ``1h``, ``7d``, ``2w``."""

from __future__ import annotations

import argparse
import math

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# Beyond any retention or health threshold, and "now minus" it would leave datetime's range.
LONGEST = 100 * 365 * 86400.0


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or a number followed by ``s``, ``m``, ``h``, ``d``
    or ``w``.

    ``parse_duration("1h") -> 3600.0``. Raises ``ValueError`` with a one-line message for
    negative, infinite, unreadable or over a century long input.
    """
    text = str(value).strip().lower()
    scale = 1.0
    if text[-1:] in UNITS:
        text, scale = text[:-1], UNITS[text[-1]]
    try:
        seconds = float(text) * scale
    except ValueError:
        raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h, d or w") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h, d or w")
    if seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it must not be negative")
    if seconds > LONGEST:
        raise ValueError(f"{value!r} is too long: at most 100 years")
    return seconds


def positive_seconds(value: str) -> float:
    """An ``argparse`` type: a duration greater than zero (``--stats-every 60``, ``--max-age 2m``)."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0 seconds")
    return seconds
