"""One chaos run on one database and delivery guarantee.

``run_trial(plan, workdir, server=...)`` is the core (the end-to-end test calls it on the test
database): enqueue ``plan.jobs`` ledger jobs, start the runtime, inject faults until every job
finished or ``plan.duration`` passed, wait up to the recovery window for the queue to settle, stop
the runtime and account for every job. ``python -m chaos.trial --plan JSON`` does the same on the
chaos database (created and emptied first) and prints the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from chaos import accounting, faults, servers
from chaos import runtime as runtimes

TASK_PATH = "chaos.chaos_app.tasks.record"


@dataclass(frozen=True)
class Plan:
    """What one run does; times in seconds."""

    jobs: int = 5000
    job_seconds: float = 0.02
    kill_every: float = 2.0
    duration: float = 300.0  # the faults stop earlier when every job finished
    stop_one: bool = True
    stop_at: float = 2.5
    restart_db: bool = True
    crash_db: bool = False  # the restart is a crash: acknowledged commits not yet on disk are lost
    restart_at: float = 6.0
    recovery_window: float = 60.0
    heartbeat: float = 1.0
    alive_threshold: float = 5.0
    delivery: str | None = None  # None: the runtime's default (at_least_once), not passed
    crash_limit: int | None = None
    synchronous_turns: bool | None = None  # None: the runtime's default, not passed
    seed: int | None = None

    @property
    def stop_for(self) -> float:
        """Long enough for the heartbeat to expire and the supervisor's next check to prune it."""
        return self.alive_threshold + 2 * self.heartbeat + 1

    @property
    def expected_delivery(self) -> str:
        return self.delivery or "at_least_once"


def run_trial(plan: Plan, workdir: Path, *, server: servers.Server,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``plan`` against the current database; return its figures and the invariants they break."""
    from dj_queue.compat import task_backends

    from chaos.chaos_app.tasks import record

    workdir.mkdir(parents=True, exist_ok=True)
    ledger = workdir / "ledger.txt"
    ledger.unlink(missing_ok=True)
    backend = task_backends["default"]
    results = backend.enqueue_all([(record, [str(ledger), plan.job_seconds], {})] * plan.jobs)
    job_ids = sorted(int(r.id) for r in results)
    options = runtimes.config(heartbeat=plan.heartbeat, alive_threshold=plan.alive_threshold,
                              delivery=plan.delivery, crash_limit=plan.crash_limit,
                              synchronous_turns=plan.synchronous_turns)
    runtime = runtimes.Runtime(workdir, options, env or {})
    try:
        workers = faults.Workers(runtime.pid)
        _wait_for_workers(workers, runtime)
        injector = faults.Faults(
            workers, kill_every=plan.kill_every, stop_at=plan.stop_at if plan.stop_one else None,
            stop_for=plan.stop_for, restart_at=plan.restart_at if plan.restart_db else None,
            server=server, seed=plan.seed, crash_db=plan.crash_db)
        try:
            chaos_seconds = _inject(plan, injector, runtime, job_ids)
        finally:
            injector.finish()
        recovery_seconds, left = _recover(plan, runtime, job_ids)
        alive = runtime.running()
    finally:
        code = runtime.stop()
    figures = accounting.tally(job_ids, accounting.read_ledger(ledger), injector.faulted_pids)
    figures["stuck"] = left.get("claimed", 0)
    found = accounting.violations(figures, plan.expected_delivery)
    if not alive:
        found.append(f"the runtime exited during the run (exit code {code}); last lines:\n{runtime.log_tail()}")
    if injector.pending():
        found.append(f"the run ended before the planned {', '.join(injector.pending())}: "
                     "use more jobs or a longer --job-seconds")
    if injector.restart_error:
        found.append(f"the database restart failed: {injector.restart_error}")
    return {
        "db": server.vendor, "delivery": plan.expected_delivery,
        "delivery_passed": plan.delivery is not None, "plan": asdict(plan),
        "seconds": {"chaos": round(chaos_seconds, 1), "recovery": round(recovery_seconds, 1)},
        "kills": sum(1 for e in injector.events if e.action == "SIGKILL" and e.pid),
        "events": [e.as_dict() for e in injector.events],
        "figures": figures, "violations": found, "workdir": str(workdir),
    }


def _wait_for_workers(workers: faults.Workers, runtime: runtimes.Runtime, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(workers.live()) < runtimes.WORKERS:
        if not runtime.running():
            raise RuntimeError(f"the runtime exited at start-up:\n{runtime.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{runtimes.WORKERS} workers did not start within {timeout:g}s:\n{runtime.log_tail()}")
        time.sleep(0.1)


def _inject(plan: Plan, injector: faults.Faults, runtime: runtimes.Runtime, job_ids: list[int]) -> float:
    """Inject faults until every job finished (and the one-off faults happened) or time is up."""
    next_check = 0.0
    while injector.elapsed() < plan.duration and runtime.running():
        injector.tick()
        if injector.elapsed() >= next_check:
            next_check = injector.elapsed() + 0.5
            left = _unfinished(job_ids)
            if left is not None and not sum(left.values()) and not injector.pending():
                break
        time.sleep(0.05)
    return injector.elapsed()


def _recover(plan: Plan, runtime: runtimes.Runtime, job_ids: list[int]) -> tuple[float, dict[str, int]]:
    """Wait, at most the recovery window, until no job is ready, claimed, scheduled or blocked."""
    started = time.monotonic()
    left: dict[str, int] | None = None
    while runtime.running():
        left = _unfinished(job_ids)
        if (left is not None and not sum(left.values())) or time.monotonic() - started > plan.recovery_window:
            break
        time.sleep(0.25)
    return time.monotonic() - started, _unfinished(job_ids) or left or {}


def _unfinished(job_ids: list[int]) -> dict[str, int] | None:
    """Counts of unfinished jobs per state, or None while the database does not answer."""
    try:
        return accounting.unfinished(job_ids[0], job_ids[-1])
    except Exception:
        faults.drop_connection()
        return None


# --- standalone: one run on the chaos database ---------------------------------------------------


def prepare_database(vendor: str) -> None:
    """Create the chaos database if needed, migrate it and empty it."""
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(db["NAME"] + suffix).unlink(missing_ok=True)
    elif vendor == "postgres":
        import psycopg

        with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                             dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],)).fetchone():
                conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    else:
        import MySQLdb

        conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{db['NAME']}` CHARACTER SET utf8mb4")
        conn.close()
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", required=True, help="the Plan as a JSON object")
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaos.settings")
    import django
    from django.conf import settings

    django.setup()
    plan = replace(Plan(), **json.loads(args.plan))
    vendor = settings.DB
    server = servers.Server.from_settings(vendor, settings.DATABASES["default"])
    if vendor == "sqlite":
        plan = replace(plan, restart_db=False)
    elif plan.restart_db and (reason := servers.can_restart(server)):
        parser.error(f"cannot restart the database server: {reason}; pass --no-restart-db")
    servers.ensure_running(server)
    prepare_database(vendor)
    try:
        report = run_trial(plan, Path(args.workdir), server=server)
    except Exception as exc:  # reported as this run's error; the other runs go on
        report = {"error": str(exc)}
    finally:
        servers.ensure_running(server)
    print(json.dumps({"db": vendor, "delivery": plan.expected_delivery, "delivery_passed": plan.delivery is not None,
                      **report}))
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
