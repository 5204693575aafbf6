"""Throughput, failure and latency bars over the last hour or day, drawn from the jobs table.

One ``GROUP BY`` query counts the jobs that finished in the window per minute (succeeded and
failed apart) with their average wait (start minus due time); the minutes are folded into the
window's buckets here: 60 one-minute bars for the last hour, 144 ten-minute bars for the last
day. The bars are plain HTML (heights in percent), so the page needs no script and no service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import connections
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, FloatField, Func
from django.db.models.functions import Coalesce, Greatest, Least, Round, Substr, TruncMinute
from django.utils import timezone

from dj_queue.dashboard.actions import plural
from dj_queue.dashboard.backends import Backend
from dj_queue.models import Job

# name -> (label, window length, bucket size)
WINDOWS = {
    "hour": ("last hour", timedelta(hours=1), timedelta(minutes=1)),
    "day": ("last day", timedelta(days=1), timedelta(minutes=10)),
}
DEFAULT_WINDOW = "hour"


@dataclass
class Bucket:
    start: datetime
    succeeded: int = 0
    failed: int = 0
    waited: timedelta = timedelta(0)  # summed over the ``started`` jobs, for the average
    started: int = 0

    @property
    def wait(self) -> timedelta | None:
        return self.waited / self.started if self.started else None


@dataclass(frozen=True)
class Bar:
    height: float  # percent of the chart's tallest bar
    title: str  # the bucket's time span and value, shown on hover and read by screen readers


@dataclass
class Chart:
    name: str
    title: str
    summary: str
    bars: list[Bar] = field(default_factory=list)


def window_name(requested: str | None) -> str:
    return requested if requested in WINDOWS else DEFAULT_WINDOW


def window_start(window: str, now: datetime | None = None) -> datetime:
    """When the window's first bucket begins (the last bucket holds ``now``)."""
    _, length, size = WINDOWS[window]
    return _floor(now or timezone.now(), size) + size - length


def buckets(backend: Backend, window: str, *, now: datetime | None = None) -> list[Bucket]:
    """The window's buckets, oldest first, filled from one query on finished and failed jobs."""
    _, length, size = WINDOWS[window]
    start = window_start(window, now)
    result = [Bucket(start + i * size) for i in range(int(length / size))]
    for row in _per_minute(backend, start):
        index = int((row["minute"] - start) / size)
        if 0 <= index < len(result):
            bucket = result[index]
            bucket.failed += row["failed"]
            bucket.succeeded += row["total"] - row["failed"]
            if row["wait"] is not None:
                bucket.waited += row["wait"] * row["started"]
                bucket.started += row["started"]
    return result


def _per_minute(backend: Backend, start: datetime) -> list[dict]:
    """Rows of ``minute`` (aware, UTC), ``total``, ``failed``, ``started`` and ``wait`` (timedelta)."""
    # Due when enqueued, or at its scheduled time if later; a job run early ("run now") started
    # before that time, so the start caps it and the wait is never negative.
    due = Greatest("enqueued_at", Least(Coalesce("scheduled_at", "enqueued_at"), "started_at"))
    jobs = Job.objects.using(backend.using).filter(backend_alias=backend.alias, finished_at__gte=start)
    if connections[backend.using].vendor == "sqlite":
        return _per_minute_sqlite(jobs, due)
    wait = ExpressionWrapper(F("started_at") - due, output_field=DurationField())
    return list(
        jobs.annotate(minute=TruncMinute("finished_at", tzinfo=dt_timezone.utc))
        .values("minute")
        .annotate(total=Count("pk"), failed=Count("failed_execution"),
                  started=Count("started_at"), wait=Avg(wait))
        .order_by()
    )


def _per_minute_sqlite(jobs, due) -> list[dict]:
    """The same on SQLite with its own functions: Django's minute truncation and datetime
    subtraction there are Python functions called per row (~10x slower on a busy hour).

    SQLite stores a datetime as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (UTC when ``USE_TZ``): its
    first 16 characters name the minute. ``julianday`` keeps milliseconds; each wait is rounded
    to them, so the float noise of day fractions does not reach the average.
    """
    seconds = ExpressionWrapper(Round((JulianDay("started_at") - JulianDay(due)) * 86400.0, 3),
                                output_field=FloatField())
    rows = (jobs.annotate(minute=Substr("finished_at", 1, 16)).values("minute")
            .annotate(total=Count("pk"), failed=Count("failed_execution"),
                      started=Count("started_at"), wait=Avg(seconds))
            .order_by())
    zone = dt_timezone.utc if settings.USE_TZ else None
    return [{**row, "minute": datetime.strptime(row["minute"], "%Y-%m-%d %H:%M").replace(tzinfo=zone),
             "wait": None if row["wait"] is None else timedelta(seconds=round(row["wait"], 6))}
            for row in rows]


class JulianDay(Func):
    """SQLite's ``julianday()``: days (with milliseconds) since the Julian epoch, as a float."""

    function = "julianday"
    output_field = FloatField()


def _floor(moment: datetime, size: timedelta) -> datetime:
    moment = moment.astimezone(dt_timezone.utc).replace(second=0, microsecond=0)
    minutes = int(size.total_seconds() // 60)
    return moment - timedelta(minutes=moment.minute % minutes)


def charts(backend: Backend, window: str) -> list[Chart]:
    """Throughput (succeeded), failures and latency (average wait) of the window, as bars."""
    label, _, size = WINDOWS[window]
    rows = buckets(backend, window)
    succeeded, failed = sum(b.succeeded for b in rows), sum(b.failed for b in rows)
    started = sum(b.started for b in rows)
    average = sum((b.waited for b in rows), timedelta(0)) / started if started else None
    every = f"per {_span(size)}"
    share = f" ({failed / (succeeded + failed):.1%} of finished jobs)" if failed else ""
    return [
        Chart("throughput", f"Succeeded {every}", f"{plural(succeeded, 'job')} succeeded in the {label}.",
              _bars(rows, size, lambda b: b.succeeded, lambda b: f"{b.succeeded} succeeded")),
        Chart("failures", f"Failed {every}", f"{plural(failed, 'job')} failed in the {label}{share}.",
              _bars(rows, size, lambda b: b.failed, lambda b: f"{b.failed} failed")),
        Chart("latency", f"Average wait {every}",
              f"Jobs waited {_seconds(average)} on average from due to start in the {label}." if average is not None
              else f"No job that finished in the {label} had started.",
              _bars(rows, size, lambda b: b.wait.total_seconds() if b.wait else 0,
                    lambda b: f"waited {_seconds(b.wait)} on average" if b.wait is not None else "no jobs")),
    ]


def _bars(rows: list[Bucket], size: timedelta, value, text) -> list[Bar]:
    values = [value(b) for b in rows]
    top = max(values, default=0) or 1
    return [Bar(round(100 * v / top, 1), f"{_moment(b.start)}–{_moment(b.start + size)}: {text(b)}")
            for b, v in zip(rows, values)]


def _moment(value: datetime) -> str:
    return timezone.localtime(value).strftime("%H:%M")


def _span(size: timedelta) -> str:
    minutes = int(size.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _seconds(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
