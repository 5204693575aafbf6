"""``make bench-scale``: does dj_queue's cost grow with the work waiting or kept?

    python benchmarks/scale.py [--waiting 5000,500000] [--history 1000000] [--drained 5000]

Run in its own process per database by ``benchmarks/run.py --scale``. Three situations, each
from empty tables: ``--waiting`` jobs ready (the smaller figure), the same with the larger figure,
and the smaller figure again with ``--history`` finished jobs kept (``preserve_finished_jobs``).
The rows are inserted by SQL (``generate_series`` on PostgreSQL, multi-row ``INSERT`` elsewhere),
not through the API: a million enqueues would take longer than the whole measurement.

In each situation: single-enqueue jobs/s (into a paused queue, so the backlog is what grows),
``QueueInfo`` size / latency, ``queue_depths()`` and the dashboard's queries (summary, queues, lifecycle counts,
charts, the first page of finished jobs with its capped count) in ms, then the drain: the runtime of
``benchmarks/runtime.yml`` takes the first ``--drained`` jobs of the backlog (logging silenced,
timed from the queue's resume to the ``--drained``-th job's ``finished_at``) and, on PostgreSQL,
``pg_stat_database.tup_returned`` per job drained while the runtime ran (the harness's poll once a
second included; rows are the robust figure on a shared machine, rates are not). Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks import measure  # noqa: E402

TASK = "benchmarks.bench_app.tasks.noop"
QUEUE = "bench"
BATCH = 1000  # rows per multi-row INSERT where there is no generate_series
SPACING = 0.08  # seconds between two finished jobs of the history


def insert_jobs(count: int, *, finished: bool) -> None:
    """``count`` jobs straight into the tables: ready ones in ``QUEUE``, or finished history.

    History finishes one job every ``SPACING`` seconds back from now: a million jobs span about
    22 hours, inside the default one-day retention, so the cleanup plugin has nothing to delete
    (older history would be pruned while the drain runs), and the one-hour charts see a busy hour.
    """
    from django.db import connection
    from django.utils import timezone

    if not count:
        return
    columns = ("backend_alias, queue_name, task_path, priority, args, kwargs, worker_ids, enqueued_at, "
               "started_at, finished_at, crashes, errors")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM dj_queue_job")
        start = cursor.fetchone()[0]
        if connection.vendor == "postgresql":
            done = f"CURRENT_TIMESTAMP - n * interval '{SPACING} second'" if finished else "NULL"
            row = f"'default', '{QUEUE}', '{TASK}', 0, '[]', '{{}}', '[]', CURRENT_TIMESTAMP, {done}, {done}, 0, '[]'"
            cursor.execute(f"INSERT INTO dj_queue_job ({columns}) SELECT {row} FROM generate_series(1, %s) AS n",
                           [count])
        else:
            row = f"'default', '{QUEUE}', '{TASK}', 0, '[]', '{{}}', '[]', %s, %s, %s, 0, '[]'"
            now = timezone.now()
            for first in range(0, count, BATCH):
                size = min(BATCH, count - first)
                done = now - timezone.timedelta(seconds=first * SPACING) if finished else None
                cursor.execute(f"INSERT INTO dj_queue_job ({columns}) VALUES " + ", ".join([f"({row})"] * size),
                               [now, done, done] * size)
        if not finished:
            cursor.execute(
                "INSERT INTO dj_queue_ready_execution (job_id, backend_alias, queue_name, priority, created_at) "
                "SELECT id, backend_alias, queue_name, priority, enqueued_at FROM dj_queue_job WHERE id > %s",
                [start])
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE dj_queue_job")  # as autovacuum would after such a load


def timed_ms(fn, repeat: int = 5) -> float:
    """The median time of ``fn`` in ms over ``repeat`` calls."""
    times = sorted(measure.timed(fn) for _ in range(repeat))
    return times[len(times) // 2] * 1000


def dashboard_ms() -> dict[str, float]:
    from dj_queue.api import QueueInfo, queue_depths
    from dj_queue.dashboard import charts, health, queries
    from dj_queue.dashboard.tables import CappedPaginator
    from django.test import RequestFactory

    from dj_queue.dashboard.backends import selected_backend

    backend = selected_backend(RequestFactory().get("/"))
    queue = QueueInfo(QUEUE)
    finished = queries.state_rows(backend, "finished").order_by("-pk")

    def finished_page():  # as the finished-jobs list draws it: its capped count, then page 1
        paginator = CappedPaginator(finished, 50)
        return paginator.count, list(paginator.page(1).object_list)
    return {
        "QueueInfo.size": timed_ms(lambda: queue.size),
        "QueueInfo.latency": timed_ms(lambda: queue.latency),
        "queue_depths()": timed_ms(queue_depths),
        "dashboard queues+summary": timed_ms(lambda: queries.summary(backend, queries.queue_rows(backend))),
        "dashboard lifecycle counts": timed_ms(lambda: health.lifecycle_counts(backend)),
        "dashboard charts (1 h)": timed_ms(lambda: charts.charts(backend, charts.window_name(None))),
        "finished jobs page + count": timed_ms(finished_page),
    }


def single_enqueue(noop, count: int) -> float:
    return count / measure.timed(lambda: [noop.using(queue_name=QUEUE).enqueue() for _ in range(count)])


def rows_returned() -> int | None:
    """PostgreSQL's ``tup_returned`` of this database (None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    # A session sends its counters at most once a second, and when it ends: end this one, so
    # what it read before (the dashboard timings) is not counted as the drain's.
    connection.close()
    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT tup_returned FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def drain_first(drained: int) -> tuple[float, float | None]:
    """Jobs/s of the first ``drained`` jobs of the paused backlog once the queue is resumed, and
    on PostgreSQL the rows read per job drained while the runtime ran (its polling included)."""
    from django.utils import timezone

    from dj_queue.api import QueueInfo
    from dj_queue.models import Job

    queue = QueueInfo(QUEUE)
    before = rows_returned()
    with measure.running_runtime() as proc:
        resumed_at = timezone.now()
        queue.resume()
        finished = Job.objects.filter(backend_alias="default", finished_at__gte=resumed_at)
        # Polled once a second: the end comes from the jobs' own finished_at.
        measure.wait_for(lambda: finished.count() >= drained or proc.poll() is not None, 900, "the drain", 1.0)
        if proc.poll() is not None:
            raise RuntimeError("the runtime exited during the drain; see benchmarks/runtime.log")
    after = rows_returned()
    last = finished.order_by("finished_at").values_list("finished_at", flat=True)[drained - 1]
    rows_per_job = None if before is None else (after - before) / finished.count()
    return drained / (last - resumed_at).total_seconds(), rows_per_job


def situation(noop, waiting: int, history: int, drained: int, singles: int) -> dict:
    from dj_queue.api import QueueInfo

    measure.clear()
    started = time.perf_counter()
    insert_jobs(history, finished=True)
    insert_jobs(waiting, finished=False)
    QueueInfo(QUEUE).pause()
    out = {"waiting": waiting, "history": history, "load_s": round(time.perf_counter() - started, 1)}
    out["single_enqueue"] = single_enqueue(noop, singles)
    out["timings_ms"] = dashboard_ms()
    out["drain"], out["rows_per_job"] = drain_first(min(drained, waiting))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waiting", default="5000,500000", help="the small and the large backlog")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--drained", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=500)
    args = parser.parse_args()
    small, large = (int(n) for n in args.waiting.split(","))
    vendor = os.environ.get("DJ_QUEUE_BENCH_DB", "sqlite")
    measure.create_database(vendor)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from benchmarks.bench_app.tasks import noop
    from dj_queue.models import Process

    Process.objects.all().delete()
    (ROOT / "benchmarks/runtime.log").write_text("")
    results = [situation(noop, waiting, history, args.drained, args.singles)
               for waiting, history in ((small, 0), (large, 0), (small, args.history))]
    measure.clear()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
