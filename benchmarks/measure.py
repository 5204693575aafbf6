"""One database's measurements, run in its own process by ``benchmarks/run.py``.

Prints one JSON object: bulk and single enqueue jobs/s, the single enqueues in ``--rounds``
rounds each followed by as many raw single-row INSERTs through the same driver
(``baseline.single_inserts``); for each of ``--rounds`` rounds, the drain
jobs/s of ``--jobs`` no-op jobs through ``manage.py dj_queue`` started with
``benchmarks/runtime.yml`` and, on a server database, the raw-driver baseline
(``benchmarks/baseline.py``) right after it, so slow and fast moments of the machine hit both
alike, then the user-view drain (the jobs enqueued before the runtime is launched, Django's
default logging on, timed from the launch); then enqueue->start latency percentiles on the idle
runtime. That latency is with the wake-up plugins (LISTEN/NOTIFY on PostgreSQL, local wake-ups
on MariaDB and SQLite: this process and the runtime share the host); a second idle runtime
without them gives the polling-only latency beside it.

Every phase starts from empty dj_queue tables (``TRUNCATE`` on a server database), as the
baseline starts from a new table: dead rows left by an earlier phase would otherwise be measured
too, and with autovacuum off (as on the development machine) they pile up from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_CONFIG = ROOT / "benchmarks/runtime.yml"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


def create_database(vendor: str) -> None:
    """Make sure the bench database exists (and, on SQLite, starts empty)."""
    from benchmarks import settings

    if vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(settings.DATABASES["default"]["NAME"] + suffix).unlink(missing_ok=True)
    elif vendor == "postgres":
        import psycopg

        db = settings.DATABASES["default"]
        with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                             password=db["PASSWORD"], dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],)).fetchone():
                conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    else:
        import MySQLdb

        db = settings.DATABASES["default"]
        conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{db['NAME']}` CHARACTER SET utf8mb4")
        conn.close()


def clear() -> None:
    """Empty the job tables (not the process registry: a running runtime keeps its rows)."""
    from django.core.management.color import no_style
    from django.db import connection

    from dj_queue import models

    tables = [model._meta.db_table for model in (
        models.Job, models.ReadyExecution, models.ScheduledExecution, models.ClaimedExecution,
        models.FailedExecution, models.BlockedExecution, models.RecurringExecution, models.Pause)]
    # One transaction: SQLite's deferred foreign keys are then checked once, after every DELETE.
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables, allow_cascade=True))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_runtime(config: Path = RUNTIME_CONFIG, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
           **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "dj_queue", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(ROOT / "benchmarks/runtime.log", "a"),
    )


def stop_runtime(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def running_runtime(config: Path = RUNTIME_CONFIG, extra_env: dict | None = None) -> Iterator[subprocess.Popen]:
    """A runtime with its 2 worker processes registered; stopped and deregistered on exit."""
    from dj_queue.models import Process

    proc = start_runtime(config, extra_env)
    try:
        wait_for(lambda: Process.objects.filter(kind="worker").count() >= 2, 60, "2 worker processes")
        yield proc
    finally:
        stop_runtime(proc)
        wait_for(lambda: not Process.objects.exists(), 30, "the runtime to deregister")


def measure(jobs: int, singles: int, samples: int, rounds: int) -> dict:
    from benchmarks.bench_app.tasks import noop

    backend = noop.get_backend()
    vendor = os.environ.get("DJ_QUEUE_BENCH_DB", "sqlite")
    out: dict = {"drains": [], "baselines": [], "user_drains": []}
    (ROOT / "benchmarks/runtime.log").write_text("")  # each runtime started below appends to it
    clear()
    out["bulk_enqueue"] = jobs / timed(lambda: backend.enqueue_all([(noop, (), {})] * jobs))
    # Single enqueues beside raw single-row INSERTs through the same driver, in alternating rounds.
    out["single_enqueues"], out["raw_inserts"], out["statements_alone"] = [], [], []
    for _ in range(rounds):
        clear()
        out["single_enqueues"].append(singles / timed(lambda: [noop.enqueue() for _ in range(singles)]))
        out["raw_inserts"].append(raw_inserts(vendor, singles))
        if vendor == "postgres":
            out["statements_alone"].append(statement_alone(noop, singles))
    out["single_enqueue"] = statistics.median(out["single_enqueues"])
    for _ in range(rounds):
        out["drains"].append(drain(noop, jobs))
        if vendor != "sqlite":
            from django.db import connections

            from benchmarks import baseline

            connections.close_all()  # the baseline forks; its children must not share this socket
            out["baselines"].append(baseline.run(vendor, jobs))
        out["user_drains"].append(user_drain(noop, jobs))
    clear()
    with running_runtime():
        out["latency_ms"] = latencies(noop, samples)
    out["latency_polling_ms"] = polling_latencies(noop, samples)
    return out


def raw_inserts(vendor: str, count: int) -> float:
    """Rows/s of ``baseline.single_inserts`` on this database (SQLite: a file beside the bench one)."""
    from django.db import connection

    from benchmarks import baseline

    if vendor != "sqlite":
        return baseline.single_inserts(vendor, count)
    path = Path(connection.settings_dict["NAME"] + "-raw")
    try:
        return baseline.single_inserts(vendor, count, sqlite_path=str(path))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def statement_alone(noop, count: int) -> float:
    """Rows/s of a single enqueue's own statement (PostgreSQL: the job, its ready row and the
    NOTIFY) sent ``count`` times more as the enqueue sends it (bound on the server, prepared,
    autocommit), with no Python around it: the ceiling of single enqueue against the raw INSERT."""
    import psycopg
    from django.db import connection

    sent: list = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        noop.enqueue()
    [(sql, params)] = [(sql, params) for sql, params in sent if sql.lstrip().upper().startswith(("INSERT", "WITH"))]
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, 0  # psycopg prepares only under a threshold
    try:
        cursor = psycopg.Cursor(raw)
        started = time.perf_counter()
        for _ in range(count):
            cursor.execute(sql, params, prepare=True)
            cursor.fetchone()
        return count / (time.perf_counter() - started)
    finally:
        raw.prepare_threshold = threshold


def drain(noop, jobs: int) -> float:
    """Jobs/s of one drain: ``jobs`` wait in a paused queue until the runtime is up, then go."""
    from django.db.models import Max
    from django.utils import timezone

    from dj_queue.api import QueueInfo
    from dj_queue.models import Job

    clear()
    queue = QueueInfo("bench")
    queue.pause()
    noop.get_backend().enqueue_all([(noop, (), {})] * jobs)
    with running_runtime() as proc:
        resumed_at = timezone.now()
        queue.resume()
        finished = Job.objects.filter(finished_at__isnull=False)
        # Polled gently: the end comes from the jobs' own finished_at, not from when this loop looks.
        wait_for(lambda: finished.count() >= jobs or proc.poll() is not None, 600, "the drain", 0.1)
        if proc.poll() is not None:
            raise RuntimeError("the runtime exited during the drain; see benchmarks/runtime.log")
        last = finished.aggregate(last=Max("finished_at"))["last"]
    return jobs / (last - resumed_at).total_seconds()


def user_drain(noop, jobs: int) -> float:
    """Jobs/s as a user first sees them: ``jobs`` wait before ``manage.py dj_queue`` is launched
    with Django's default logging configuration, and the clock starts at the launch."""
    from django.db.models import Max
    from django.utils import timezone

    from dj_queue.models import Job, Process

    clear()
    noop.get_backend().enqueue_all([(noop, (), {})] * jobs)
    launched = timezone.now()
    proc = start_runtime(extra_env={"DJ_QUEUE_BENCH_LOGGING": "default"})
    try:
        finished = Job.objects.filter(finished_at__isnull=False)
        wait_for(lambda: finished.count() >= jobs or proc.poll() is not None, 600, "the user-view drain", 0.1)
        if proc.poll() is not None:
            raise RuntimeError("the runtime exited during the user-view drain; see benchmarks/runtime.log")
        last = finished.aggregate(last=Max("finished_at"))["last"]
    finally:
        stop_runtime(proc)
        wait_for(lambda: not Process.objects.exists(), 30, "the runtime to deregister")
    return jobs / (last - launched).total_seconds()


def polling_latencies(noop, samples: int) -> dict:
    """Latency percentiles of an idle runtime that only polls (no NOTIFY, no local wake-ups)."""
    config = yaml.safe_load(RUNTIME_CONFIG.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runtime-polling.yml"
        path.write_text(yaml.safe_dump({**config, "listen_notify": False, "local_wakeup": False}))
        # Also block the plugins outright: the waker must be core's polling one whatever reads the options.
        blocked = "dj_queue_plugins.notify,dj_queue_plugins.localwake"
        with running_runtime(path, {"DJ_QUEUE_DISABLE_PLUGINS": blocked}):
            return latencies(noop, samples)


def latencies(noop, samples: int) -> dict:
    from dj_queue.models import Job

    values = []
    for i in range(samples):
        time.sleep(0.02 + (i % 5) * 0.02)  # spread enqueues across the polling cycle
        job_id = int(noop.enqueue().id)
        wait_for(lambda: Job.objects.filter(pk=job_id, started_at__isnull=False).exists(), 10, "a job to start", 0.005)
        job = Job.objects.get(pk=job_id)
        values.append((job.started_at - job.enqueued_at).total_seconds() * 1000)
    values.sort()
    return {"p50": statistics.median(values), "p95": values[int(len(values) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    vendor = os.environ.get("DJ_QUEUE_BENCH_DB", "sqlite")
    create_database(vendor)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from dj_queue.models import Process

    Process.objects.all().delete()  # rows a killed earlier run left behind would count as workers
    clear()
    print(json.dumps(measure(args.jobs, args.singles, args.samples, args.rounds)))


if __name__ == "__main__":
    main()
