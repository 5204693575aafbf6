"""Raw-driver baselines, with no framework at all: what two processes get from "claim one row
with SKIP LOCKED, commit; mark it finished, commit" (dj_queue's drain is compared against it),
and single-row INSERTs, each its own transaction (``single_inserts``: single enqueue's yardstick).

Run through ``benchmarks/run.py``; usable alone: ``python benchmarks/baseline.py postgres``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from typing import Any

PROCESSES = 2


def pg_connect():
    import psycopg

    return psycopg.connect(
        host=os.environ.get("DJ_QUEUE_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("DJ_QUEUE_PG_PORT", "5432")),
        user=os.environ.get("DJ_QUEUE_PG_USER", "postgres"),
        password=os.environ.get("DJ_QUEUE_PG_PASSWORD", ""),
        dbname=os.environ.get("DJ_QUEUE_BENCH_DB_NAME", "dj_queue_bench"),
    )


def mysql_connect():
    import MySQLdb

    return MySQLdb.connect(
        host=os.environ.get("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
        port=int(os.environ.get("DJ_QUEUE_MYSQL_PORT", "3306")),
        user=os.environ.get("DJ_QUEUE_MYSQL_USER", "root"),
        passwd=os.environ.get("DJ_QUEUE_MYSQL_PASSWORD", ""),
        db=os.environ.get("DJ_QUEUE_BENCH_DB_NAME", "dj_queue_bench"),
    )


DDL = {
    "postgres": [
        "DROP TABLE IF EXISTS baseline_jobs",
        "CREATE TABLE baseline_jobs (id bigserial PRIMARY KEY, args text NOT NULL,"
        " state smallint NOT NULL DEFAULT 0, finished_at timestamptz)",
        "CREATE INDEX baseline_jobs_ready ON baseline_jobs (id) WHERE state = 0",
    ],
    "mysql": [
        "DROP TABLE IF EXISTS baseline_jobs",
        "CREATE TABLE baseline_jobs (id bigint AUTO_INCREMENT PRIMARY KEY, args text NOT NULL,"
        " state smallint NOT NULL DEFAULT 0, finished_at datetime(6), KEY ready (state, id))"
        " ENGINE=InnoDB",
    ],
}
NOW = {"postgres": "now()", "mysql": "NOW(6)"}


def connect(vendor: str):
    return pg_connect() if vendor == "postgres" else mysql_connect()


def prepare(vendor: str, jobs: int) -> None:
    conn = connect(vendor)
    cur = conn.cursor()
    for statement in DDL[vendor]:
        cur.execute(statement)
    cur.executemany("INSERT INTO baseline_jobs (args) VALUES (%s)", [("[]",)] * jobs)
    conn.commit()
    conn.close()


def drain(vendor: str, ready: Any = None, go: Any = None) -> None:
    conn = connect(vendor)
    cur = conn.cursor()
    if ready is not None:  # connected: the clock starts once every process is
        ready.release()
        go.wait()
    claim = (
        "SELECT id FROM baseline_jobs WHERE state = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    while True:
        cur.execute(claim)
        row = cur.fetchone()
        if row is None:
            conn.commit()
            break
        cur.execute("UPDATE baseline_jobs SET state = 1 WHERE id = %s", (row[0],))
        conn.commit()
        cur.execute(
            f"UPDATE baseline_jobs SET state = 2, finished_at = {NOW[vendor]} WHERE id = %s",
            (row[0],),
        )
        conn.commit()
    conn.close()


def run(vendor: str, jobs: int = 5000) -> float:
    """Return the baseline's jobs/s for ``jobs`` rows drained by two processes.

    Timed from the moment both processes are connected, as dj_queue's drain is timed from the
    moment its runtime is up.
    """
    prepare(vendor, jobs)
    ctx = mp.get_context("fork")
    ready, go = ctx.Semaphore(0), ctx.Event()
    workers = [ctx.Process(target=drain, args=(vendor, ready, go)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for _ in workers:
        if not ready.acquire(timeout=60):
            raise RuntimeError("a baseline drain process did not connect within 60 s")
    started = time.perf_counter()
    go.set()
    for worker in workers:
        worker.join(timeout=600)
        if worker.exitcode != 0:
            raise RuntimeError(f"baseline drain process exited with {worker.exitcode}")
    elapsed = time.perf_counter() - started
    conn = connect(vendor)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM baseline_jobs WHERE state = 2")
    done = cur.fetchone()[0]
    cur.execute("DROP TABLE baseline_jobs")
    conn.commit()
    conn.close()
    if done != jobs:
        raise RuntimeError(f"baseline finished {done} of {jobs} jobs")
    return jobs / elapsed


# A job-like row: what a single enqueue writes, minus dj_queue's second table and indexes.
SINGLE_DDL = {
    "postgres": "CREATE TABLE baseline_enqueue (id bigserial PRIMARY KEY, queue_name varchar(100) NOT NULL,"
                " task_path varchar(255) NOT NULL, priority smallint NOT NULL, args text NOT NULL,"
                " kwargs text NOT NULL, enqueued_at timestamptz NOT NULL)",
    "mysql": "CREATE TABLE baseline_enqueue (id bigint AUTO_INCREMENT PRIMARY KEY, queue_name varchar(100) NOT NULL,"
             " task_path varchar(255) NOT NULL, priority smallint NOT NULL, args longtext NOT NULL,"
             " kwargs longtext NOT NULL, enqueued_at datetime(6) NOT NULL) ENGINE=InnoDB",
    "sqlite": "CREATE TABLE baseline_enqueue (id integer PRIMARY KEY AUTOINCREMENT, queue_name varchar(100) NOT NULL,"
              " task_path varchar(255) NOT NULL, priority smallint NOT NULL, args text NOT NULL,"
              " kwargs text NOT NULL, enqueued_at datetime NOT NULL)",
}


def single_inserts(vendor: str, count: int = 1000, sqlite_path: str | None = None) -> float:
    """Rows/s of ``count`` single-row INSERTs through the raw driver in autocommit: one statement
    and one commit each, the new id read back (``RETURNING`` or the driver's last id)."""
    import datetime

    if vendor == "sqlite":
        import sqlite3

        # As the SQLite dialect sets up its connections: WAL (persistent in the file), NORMAL sync.
        conn = sqlite3.connect(sqlite_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        mark = "?"
    else:
        conn = connect(vendor)
        if vendor == "mysql":
            conn.autocommit(True)
        else:
            conn.autocommit = True
        mark = "%s"
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS baseline_enqueue")
    cur.execute(SINGLE_DDL[vendor])
    returning = "" if vendor == "mysql" else " RETURNING id"
    sql = (f"INSERT INTO baseline_enqueue (queue_name, task_path, priority, args, kwargs, enqueued_at) "
           f"VALUES ({', '.join([mark] * 6)}){returning}")
    started = time.perf_counter()
    for _ in range(count):
        now = datetime.datetime.now(datetime.timezone.utc)
        if vendor == "sqlite":
            now = now.isoformat()
        cur.execute(sql, ("bench", "benchmarks.bench_app.tasks.noop", 0, "[]", "{}", now))
        if returning:
            cur.fetchone()
        else:
            cur.lastrowid
    elapsed = time.perf_counter() - started
    cur.execute("DROP TABLE baseline_enqueue")
    conn.close()
    return count / elapsed


if __name__ == "__main__":
    vendor = sys.argv[1] if len(sys.argv) > 1 else "postgres"
    if vendor == "sqlite":
        print(f"sqlite single INSERTs: {single_inserts(vendor, sqlite_path='baseline.sqlite3'):,.0f} rows/s")
    else:
        print(f"{vendor} baseline: {run(vendor):,.0f} jobs/s")
        print(f"{vendor} single INSERTs: {single_inserts(vendor):,.0f} rows/s")
