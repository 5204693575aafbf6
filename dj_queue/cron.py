"""Cron schedules read as wall-clock times in an IANA time zone, correct across DST changes.

croniter walks naive wall times (its own DST handling is not relied on) and each one is read as
``zoneinfo`` reads it with ``fold=0``: a time in a repeated hour means its first occurrence (so
it fires once), a time in a skipped hour is moved forward by the gap (02:30 on a spring-forward
night is 03:30, once). Every instant returned is UTC-aware.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta, timezone as dt_timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, croniter
from django.conf import settings

# Wall times less than this apart may map to instants out of order around a DST gap (no zone has
# shifted its clocks by more than two hours at once).
DST_WINDOW = timedelta(hours=3)
# Bounds a walk over candidate run times (every second of two three-hour windows fits).
MAX_STEPS = 50000


def schedule_error(schedule: Any) -> str | None:
    """Why ``schedule`` is not a usable cron expression (5 fields, or 6 with seconds last), or None."""
    if not isinstance(schedule, str) or not schedule.strip():
        return "schedule must be a non-empty cron string"
    if not schedule.strip().startswith("@") and len(schedule.split()) not in (5, 6):
        return f"schedule {schedule!r} must have 5 fields (or 6, seconds last) or be a nickname like @hourly"
    if not croniter.is_valid(schedule):
        return f"schedule {schedule!r} is not a valid cron expression"
    try:  # valid fields can still name no date at all, such as February 30th
        next_run(schedule, datetime.now(dt_timezone.utc))
    except (CroniterBadDateError, ValueError):
        return f"schedule {schedule!r} never fires (no date matches it)"
    return None


def default_timezone() -> str:
    """The zone of a task that names none: ``settings.TIME_ZONE``, or UTC when it is unset."""
    return getattr(settings, "TIME_ZONE", None) or "UTC"


def timezone_error(name: Any) -> str | None:
    """Why ``name`` is not a usable IANA time zone (with the nearest known name), or None."""
    if not isinstance(name, str) or not name.strip():
        return "timezone must be a non-empty IANA time zone name such as 'Europe/Berlin'"
    try:
        zone_for(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"timezone {name!r} is not a known IANA time zone{timezone_suggestion(name)}"
    return None


def timezone_suggestion(name: str) -> str:
    """``"; did you mean 'Europe/Berlin'?"`` for the known zone nearest ``name``, or ``""``."""
    close = difflib.get_close_matches(name, sorted(_known_zones()), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@lru_cache(maxsize=None)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def zone_for(name: str | None) -> tzinfo:
    """The ``ZoneInfo`` named ``name`` (the default zone when empty)."""
    return ZoneInfo(name or default_timezone())


def latest_run(schedule: str, now: datetime, zone: str | None = "UTC") -> datetime:
    """The most recent instant at or before ``now`` that ``schedule`` names in ``zone`` (UTC-aware)."""
    return _walk(schedule, now, zone_for(zone), forward=False)


def next_run(schedule: str, now: datetime, zone: str | None = "UTC") -> datetime:
    """The first instant after ``now`` that ``schedule`` names in ``zone`` (UTC-aware)."""
    return _walk(schedule, now, zone_for(zone), forward=True)


def _walk(schedule: str, now: datetime, zone: tzinfo, *, forward: bool) -> datetime:
    """Walk wall times from ``now`` and return the nearest instant on the wanted side of it.

    Around a DST change wall times and instants are not in the same order (02:30 is read as
    03:30 on a spring-forward night; a repeated 02:50 is read as its first occurrence), so near
    a transition the walk starts ``DST_WINDOW`` of wall time on the other side of ``now`` and
    goes on for ``DST_WINDOW`` past the first match, keeping the nearest instant.
    """
    now = now.astimezone(dt_timezone.utc)
    wall = now.astimezone(zone).replace(tzinfo=None, microsecond=0)
    if _transition_near(now, zone):
        wall = wall - DST_WINDOW if forward else wall + DST_WINDOW
    # get_prev is strictly before its base: start one second past ``now`` (floored) so a run
    # falling exactly on this second counts as due.
    steps = croniter(schedule, wall if forward else wall + timedelta(seconds=1))
    best, until = None, None
    for _ in range(MAX_STEPS):
        candidate = steps.get_next(datetime) if forward else steps.get_prev(datetime)
        if until is not None and (candidate > until if forward else candidate < until):
            break
        instant = _instant(candidate, zone)
        if (instant > now) if forward else (instant <= now):
            if best is None:
                if not _transition_near(instant, zone):
                    return instant
                until = candidate + DST_WINDOW if forward else candidate - DST_WINDOW
            best = instant if best is None else (min(best, instant) if forward else max(best, instant))
    if best is None:
        raise ValueError(f"schedule {schedule!r} names no time near {now.isoformat()}")
    return best


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    return wall.replace(tzinfo=zone, fold=0).astimezone(dt_timezone.utc)


def _transition_near(instant: datetime, zone: tzinfo) -> bool:
    offsets = {(instant + delta).astimezone(zone).utcoffset() for delta in (-DST_WINDOW, timedelta(0), DST_WINDOW)}
    return len(offsets) > 1
