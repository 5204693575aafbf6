"""What every peer driver shares (standard library only: it runs inside each peer's virtualenv).

A driver is a script with three commands, run by ``benchmarks/peers/run.py``:

    setup                   create the peer's schema in its (empty) database
    enqueue --jobs N        bulk-enqueue N no-op jobs; print {"seconds": ...} (once connected)
    latency --samples K --dir D
                            against a running runtime: enqueue one "stamp" job at a time and
                            print {"p50": ms, "p95": ms} of enqueue -> the task body running

The harness starts the runtime itself from the argv lists ``Peer.runtime_commands()`` (peers.py)
returns, so the runtime's processes are its children and their CPU time can be read after they exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable


def write_stamp(path: str) -> None:
    """The latency task's body: record when it ran (rename, so a reader never sees half a file)."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(repr(time.time()))
    os.replace(tmp, path)


def wait_for_stamp(path: Path, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no job wrote {path.name} within {timeout:.0f} s")
        time.sleep(0.001)
    return float(path.read_text())


def latencies(enqueue_stamp: Callable[[str], None], samples: int, folder: Path) -> dict:
    """Enqueue-to-start latency on an idle runtime, the first (warm-up) job excluded."""
    folder.mkdir(parents=True, exist_ok=True)
    enqueue_stamp(str(folder / "warm-up"))
    wait_for_stamp(folder / "warm-up", 120)  # covers the runtime's start-up
    values = []
    for i in range(samples):
        time.sleep(0.02 + (i % 5) * 0.02)  # spread the enqueues across any polling cycle
        path = folder / f"stamp-{i}"
        sent = time.time()
        enqueue_stamp(str(path))
        values.append((wait_for_stamp(path, 10) - sent) * 1000)
    values.sort()
    return {"p50": statistics.median(values), "p95": values[max(int(len(values) * 0.95) - 1, 0)]}


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(setup: Callable[[], None], enqueue_noops: Callable[[int], float],
         stamper: Callable[[], Callable[[str], None]]) -> None:
    """Run the command line. ``enqueue_noops(n)`` connects, then returns the seconds the bulk
    enqueue itself took; ``stamper()`` returns the function that enqueues one stamp job."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["setup", "enqueue", "latency"])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.command == "setup":
        setup()
        return
    if args.command == "enqueue":
        print(json.dumps({"seconds": enqueue_noops(args.jobs)}))
        return
    print(json.dumps(latencies(stamper(), args.samples, args.dir)))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def pg_dsn() -> str:
    """libpq URL of this peer's PostgreSQL database (the harness sets PEER_DB_NAME)."""
    user, password = env("DJ_QUEUE_PG_USER", "postgres"), env("DJ_QUEUE_PG_PASSWORD")
    auth = f"{user}:{password}" if password else user
    return (f"postgresql://{auth}@{env('DJ_QUEUE_PG_HOST', '127.0.0.1')}:"
            f"{env('DJ_QUEUE_PG_PORT', '5432')}/{env('PEER_DB_NAME')}")
