"""Prometheus metrics: job counters and timings from hooks, queue and process gauges from the database.

Counters and histograms are updated where the event happens (the enqueuing process, the worker
running the job) through hooks; gauges are read from the database at scrape time, so any process
can serve them. Expose them with ``metrics_view`` in a URLconf or ``manage.py dj_queue
--metrics-port PORT``. In fork mode workers are child processes: set ``PROMETHEUS_MULTIPROC_DIR``
(the command does it for you) and every process writes its samples there. ``prometheus_client``
(extra ``dj-queue[prometheus]``) is imported inside functions, so the plugin loads without it and
then does nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections import Counter
from functools import lru_cache
from typing import Any, Iterator

from django.utils import timezone

from dj_queue import hookimpl

logger = logging.getLogger("dj_queue.prometheus")

STATES = ("enqueued", "started", "succeeded", "failed", "retried", "rescued")
DEPTH_STATES = ("ready", "scheduled", "blocked", "claimed", "failed")
PROCESS_KINDS = ("supervisor", "worker", "dispatcher", "scheduler")
# Waits run from milliseconds (a busy worker) to hours (a paused queue); durations likewise.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@lru_cache(maxsize=1)
def available() -> bool:
    """True when ``prometheus_client`` is installed (found, not imported: see ``use_multiprocess_dir``)."""
    return importlib.util.find_spec("prometheus_client") is not None


@lru_cache(maxsize=1)
def metrics() -> Any:
    """The counter and histograms, created on first use (after ``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return SimpleNamespace(
        registry=registry,
        jobs=Counter("dj_queue_jobs", "Jobs by queue, task and what happened to them.",
                     ["queue", "task", "state"], registry=registry),
        duration=Histogram("dj_queue_job_duration_seconds", "How long one attempt of a task ran.",
                           ["queue", "task"], buckets=BUCKETS, registry=registry),
        wait=Histogram("dj_queue_job_wait_seconds", "From due (enqueued or scheduled) to started.",
                       ["queue", "task"], buckets=BUCKETS, registry=registry),
    )


def count(job: Any, state: str) -> None:
    if available():
        metrics().jobs.labels(job.queue_name, job.task_path, state).inc()


# --- hooks -----------------------------------------------------------------------------------

def count_created(jobs: list) -> None:
    # One increment per (queue, task), not per job: a bulk enqueue brings thousands of one task.
    if not available():
        return
    counts = Counter((job.queue_name, job.task_path) for job in jobs)
    for (queue_name, task_path), n in counts.items():
        series("jobs", queue_name, task_path, "enqueued").inc(n)


# (queue, task path, state) -> its series: ``labels()`` looks them up under a lock and validates its
# arguments, too slow to repeat several times per job. Each is made when first used, as labels()
# would: a series once made is exported (at 0 until counted).
_series: dict[tuple[str, ...], Any] = {}


def series(metric: str, *labels: str) -> Any:
    found = _series.get((metric, *labels))
    if found is None:
        found = _series[(metric, *labels)] = getattr(metrics(), metric).labels(*labels)
    return found


def time_execution(job: Any) -> Iterator[None]:
    labels = (job.queue_name, job.task_path)
    due = job.scheduled_at or job.enqueued_at
    if due is not None:
        series("wait", *labels).observe(max(0.0, (timezone.now() - due).total_seconds()))
    series("jobs", *labels, "started").inc()
    began = time.monotonic()
    try:
        value = yield
    finally:
        series("duration", *labels).observe(time.monotonic() - began)
    series("jobs", *labels, "succeeded").inc()
    return value


# The two hot-path hooks are only implemented with prometheus_client installed: without it,
# enqueues and job runs do not pay for a plugin that does nothing.
if available():
    dj_queue_jobs_created = hookimpl(count_created)
    dj_queue_execute = hookimpl(wrapper=True)(time_execution)


@hookimpl
def dj_queue_job_failed(job: Any) -> None:
    count(job, "failed")


@hookimpl
def dj_queue_job_retried(job: Any) -> None:
    count(job, "retried")


@hookimpl
def dj_queue_job_rescued(job: Any) -> None:
    count(job, "rescued")


# --- scrape-time gauges ----------------------------------------------------------------------

class DatabaseCollector:
    """Queue depths, queue latency and live processes of one backend, read at every scrape."""

    def __init__(self, backend_alias: str = "default", *, close_connections: bool = False) -> None:
        self.backend_alias = backend_alias
        self.close_connections = close_connections  # True off Django's request cycle

    def describe(self) -> list:
        return []  # nothing to check at registration: the families depend on the database

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("dj_queue_queue_depth", "Jobs per queue and state.", labels=["queue", "state"])
        latency = GaugeMetricFamily("dj_queue_queue_latency_seconds", "Age of the oldest ready job.",
                                    labels=["queue"])
        processes = GaugeMetricFamily("dj_queue_processes", "Registered processes by kind.", labels=["kind"])
        try:
            queues, kinds = self._read()
        except Exception:
            logger.exception("dj_queue: reading queue metrics from the database failed")
            return
        for queue in queues:
            for state in DEPTH_STATES:
                depth.add_metric([queue["name"], state], queue[state])
            latency.add_metric([queue["name"]], queue["latency_seconds"])
        for kind in PROCESS_KINDS:
            processes.add_metric([kind], kinds.get(kind, 0))
        yield from (depth, latency, processes)

    def _read(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        from django.db import connections
        from django.db.models import Count

        from dj_queue.api import queue_depths
        from dj_queue.config import database_for
        from dj_queue.models import Process

        try:
            queues = queue_depths(self.backend_alias)
            rows = (Process.objects.using(database_for(self.backend_alias))
                    .filter(backend_alias=self.backend_alias).values("kind").annotate(n=Count("id")))
            return queues, {row["kind"]: row["n"] for row in rows}
        finally:
            if self.close_connections:
                connections.close_all()


def scrape_registry(backend_alias: str = "default", *, close_connections: bool = False) -> Any:
    """A registry whose collection is everything this plugin exposes for ``backend_alias``.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, counters and histograms are summed over the files
    every process wrote; otherwise they are this process's own.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(metrics().registry)
    registry.register(DatabaseCollector(backend_alias, close_connections=close_connections))
    return registry


def render(backend_alias: str = "default") -> tuple[bytes, str]:
    """The exposition text of ``scrape_registry`` and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(scrape_registry(backend_alias)), CONTENT_TYPE_LATEST


def metrics_view(request: Any, backend_alias: str = "default") -> Any:
    """A Django view serving the metrics: ``path("metrics", metrics_view)`` in a URLconf."""
    from django.http import HttpResponse

    if not available():
        return HttpResponse("prometheus_client is not installed: pip install 'dj-queue[prometheus]'\n",
                            status=501, content_type="text/plain")
    body, content_type = render(backend_alias)
    return HttpResponse(body, content_type=content_type)


def serve(port: int, host: str = "127.0.0.1", backend_alias: str = "default") -> Any:
    """Serve ``/metrics`` over plain HTTP on a daemon thread; return the server (``shutdown()``)."""
    from prometheus_client import start_http_server

    registry = scrape_registry(backend_alias, close_connections=True)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def use_multiprocess_dir(path: str) -> None:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at ``path`` so every process of this runtime writes there.

    prometheus_client picks its value class when it is imported; it is picked again here so an
    earlier import does not leave this process counting in memory only.
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    if available():
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
        metrics.cache_clear()
        _series.clear()
