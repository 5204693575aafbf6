"""Raw-driver baseline: what two processes get from "claim one row with SKIP LOCKED, commit;
mark it finished, commit" with no framework at all. dj_queue's drain is compared against it.

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


if __name__ == "__main__":
    vendor = sys.argv[1] if len(sys.argv) > 1 else "postgres"
    print(f"{vendor} baseline: {run(vendor):,.0f} jobs/s")
