"""One peer's phases, as ``run.py`` calls them: a drain (enqueue first, then launch) and the
idle latency. The runtime's processes are this process's children, so after they have exited
``RUSAGE_CHILDREN`` holds their CPU time (the workers they forked included: each supervisor
reaps its own)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from dbstats import BackendCpu, Database
from peers import HERE, Peer

DRAIN_TIMEOUT = 600


def peer_env(peer: Peer, db: Database, name: str) -> dict[str, str]:
    # A baseline checkout's dj_queue comes first on the path, ahead of the installed one.
    path = os.pathsep.join([*filter(None, [peer.env.get("PEER_SOURCE")]), str(HERE)])
    return {**os.environ, **peer.env, "PEER_DB_NAME": name, "PEER_DB_VENDOR": db.vendor,
            "PYTHONPATH": path, "DJANGO_SETTINGS_MODULE": "peer_settings"}


def driver(peer: Peer, db: Database, name: str, venvs: Path, *args: str, timeout: float = 300) -> dict:
    done = subprocess.run([peer.python(venvs), str(HERE / peer.driver), *args], cwd=HERE,
                          env=peer_env(peer, db, name), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{peer.label}: driver {' '.join(args)} failed\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start(peer: Peer, db: Database, name: str, venvs: Path, log: Path) -> list[subprocess.Popen]:
    out = open(log, "a")
    try:
        return [subprocess.Popen(argv, cwd=HERE, env=peer_env(peer, db, name), stdout=out, stderr=subprocess.STDOUT)
                for argv in peer.runtime_commands(venvs)]
    finally:
        out.close()  # each child holds its own copy


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def drain(peer: Peer, db: Database, venvs: Path, jobs: int, log: Path) -> dict:
    """Enqueue ``jobs`` no-op jobs in bulk, launch the runtime, time until none is left."""
    name = db.recreate(peer.name)
    driver(peer, db, name, venvs, "setup")
    enqueue = driver(peer, db, name, venvs, "enqueue", "--jobs", str(jobs))["seconds"]
    db.wait_idle(name)
    before, cpu_before = db.counters(name), children_cpu()
    poll = db.connect(name)
    backends = BackendCpu(name) if db.vendor == "postgres" else None
    interval = 1.0 if db.vendor == "sqlite" else 0.05
    launched, launched_at = time.monotonic(), time.time()
    procs = start(peer, db, name, venvs, log)
    first, lefts = None, []
    try:
        cursor = poll.cursor()
        while True:
            left, now = poll_once(cursor, peer, backends), time.monotonic()
            lefts.append(left)
            if first is None and left < jobs:
                first = (now, left)
            if left == 0:
                break
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError(f"{peer.label}: the runtime exited during the drain; see {log}")
            if now - launched > DRAIN_TIMEOUT:
                raise TimeoutError(f"{peer.label}: {left} of {jobs} jobs left after {DRAIN_TIMEOUT} s")
            time.sleep(interval)
    finally:
        stop(procs)
        poll.close()
    db.wait_idle(name)
    after = db.counters(name)
    processes_cpu = children_cpu() - cpu_before
    deltas = {key: after[key] - before[key] for key in after}
    server_cpu = backends.total() if backends else deltas.pop("server_cpu", None)
    if deltas:
        subtract_polls(deltas, lefts, poll_cost(db, name, peer))
    if db.vendor == "sqlite":
        first_done, last_done = finished_span(db, name, peer)
        drain_seconds, after_first = last_done - launched_at, (jobs - 1) / max(last_done - first_done, 1e-9)
    else:
        # Jobs still waiting when the first finished ones were seen, over the time they took.
        drain_seconds, after_first = now - launched, first[1] / max(now - first[0], 1e-9)
    return {
        "bulk_enqueue": jobs / enqueue,
        "drain": jobs / drain_seconds,
        "after_first": after_first,
        "cpu_ms": (processes_cpu + (server_cpu or 0.0)) * 1000 / jobs,
        "server_cpu_ms": None if server_cpu is None else server_cpu * 1000 / jobs,
        "rows": deltas["rows"] / jobs if "rows" in deltas else None,
        "xacts": deltas["xacts"] / jobs if "xacts" in deltas else None,
    }


def finished_span(db: Database, name: str, peer: Peer) -> tuple[float, float]:
    """Epoch seconds of the first and the last job finished (Django stores UTC text on SQLite)."""
    span = db.execute(peer.finished_span_sql, name=name)[0]
    return tuple(datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp() for value in span)


def poll_once(cursor, peer: Peer, backends: BackendCpu | None) -> int:
    """How many jobs are left (and, on PostgreSQL, a CPU sample of the peer's backends)."""
    cursor.execute(peer.remaining_sql)
    left = cursor.fetchone()[0]
    if backends:
        backends.sample(cursor)
    return left


def poll_cost(db: Database, name: str, peer: Peer) -> dict[str, float]:
    """Rows read and transactions of one poll on the drained table: two sessions of 1 and 11
    polls, so what opening a session costs cancels out."""
    def session(polls: int) -> dict[str, float]:
        before = db.counters(name)
        conn = db.connect(name)
        cursor = conn.cursor()
        for _ in range(polls):
            poll_once(cursor, peer, BackendCpu(name) if db.vendor == "postgres" else None)
        conn.close()
        db.wait_idle(name)
        after = db.counters(name)
        return {key: after[key] - before[key] for key in ("rows", "xacts")}

    one, eleven = session(1), session(11)
    return {key: max((eleven[key] - one[key]) / 10, 0.0) for key in one}


def subtract_polls(deltas: dict[str, float], lefts: list[int], cost: dict[str, float]) -> None:
    """Take the harness's own polling out of the counters. A poll reads at least the rows it
    counts (``left``) and, when it scans the whole table, what it reads on the drained one."""
    deltas["rows"] = max(deltas["rows"] - sum(max(cost["rows"], left) for left in lefts), 0.0)
    deltas["xacts"] = max(deltas["xacts"] - cost["xacts"] * len(lefts), 0.0)


def latency(peer: Peer, db: Database, venvs: Path, samples: int, folder: Path, log: Path) -> dict:
    """Enqueue-to-start latency p50/p95 (ms) on an idle, started runtime."""
    name = db.recreate(peer.name)
    driver(peer, db, name, venvs, "setup")
    procs = start(peer, db, name, venvs, log)
    try:
        return driver(peer, db, name, venvs, "latency", "--samples", str(samples), "--dir", str(folder / peer.name))
    finally:
        stop(procs)
