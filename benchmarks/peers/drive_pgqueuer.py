"""Driver for pgqueuer, through its Python API (``PgQueuer``, ``Queries``, ``pgqueuer.run``) and
``pgq install``. The tasks are coroutines, the form pgqueuer documents first.

``python drive_pgqueuer.py run`` is the runtime: what ``pgq run drive_pgqueuer:factory`` does
(uvloop, INFO logging, batches of 10), through the programmatic ``pgqueuer.run`` because
``pgq run`` 1.6.0 fails to parse its own ``--log-level`` default with typer 0.29.
``PEER_PGQ_BATCH`` / ``PEER_PGQ_MAX_CONCURRENT`` change the batch and cap its jobs in flight
(the peer ``pgqueuer-4``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import pgqueuer
import uvloop
from pgqueuer import AsyncpgDriver, PgQueuer, Queries
from pgqueuer.models import Job

import common


@asynccontextmanager
async def factory() -> AsyncIterator[PgQueuer]:
    conn = await asyncpg.connect(common.pg_dsn())
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    @pgq.entrypoint("stamp")
    async def stamp(job: Job) -> None:
        common.write_stamp(job.payload.decode())

    try:
        yield pgq
    finally:
        await conn.close()


def setup() -> None:
    pgq = str(Path(sys.executable).with_name("pgq"))
    subprocess.run([pgq, "--pg-dsn", common.pg_dsn(), "install"], check=True, stdout=subprocess.DEVNULL)


async def _queries() -> Queries:
    return Queries(AsyncpgDriver(await asyncpg.connect(common.pg_dsn())))


def enqueue_noops(jobs: int) -> float:
    async def go() -> float:
        queries = await _queries()
        started = time.perf_counter()
        await queries.enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)
        return time.perf_counter() - started

    return asyncio.run(go())


class StampEnqueuer:
    """One connection and event loop for all the latency samples, as an application would keep."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queries = self.loop.run_until_complete(_queries())

    def __call__(self, path: str) -> None:
        self.loop.run_until_complete(self.queries.enqueue("stamp", path.encode()))


def run() -> None:
    logging.basicConfig(level=logging.INFO)
    # The peer "pgqueuer-4" caps it at our topology: at most 4 jobs in flight per process (its
    # max_concurrent_tasks must be at least twice the batch, hence batches of 2).
    batch = int(os.environ.get("PEER_PGQ_BATCH", "10"))
    cap = int(os.environ.get("PEER_PGQ_MAX_CONCURRENT", "0")) or None
    uvloop.run(pgqueuer.run(factory, batch_size=batch, max_concurrent_tasks=cap))


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        sys.exit(run())
    common.main(setup, enqueue_noops, StampEnqueuer)
