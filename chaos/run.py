"""``make chaos``: dj_queue under SIGKILLed and SIGSTOPped workers and a database restart.

    python chaos/run.py [--db sqlite,postgres,mysql] [--delivery at_least_once|at_most_once|both]
                        [--jobs 5000] [--kill-every 2] [--job-seconds 0.02] [--no-restart-db] [--json]

Each database and delivery guarantee runs in its own process (``chaos/trial.py``) on the
``dj_queue_chaos`` database. Without ``--delivery`` the runtime's default applies and no
``delivery`` key is written to its config. Exits non-zero when an invariant fails, naming it.
Run files (config, ledger, runtime log) are kept under ``chaos/runs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from chaos.accounting import DELIVERIES  # noqa: E402
from chaos.report import markdown_table, text_report  # noqa: E402
from chaos.trial import Plan  # noqa: E402

VENDORS = ("sqlite", "postgres", "mysql")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Plan()
    parser.add_argument("--db", default=",".join(VENDORS), help="comma-separated: sqlite, postgres, mysql")
    parser.add_argument("--delivery", choices=(*DELIVERIES, "both"),
                        help="passed to the runtime's config; default: not passed (the runtime's default)")
    parser.add_argument("--jobs", type=int, default=default.jobs)
    parser.add_argument("--kill-every", type=float, default=default.kill_every, help="seconds between SIGKILLs")
    parser.add_argument("--job-seconds", type=float, default=default.job_seconds, help="how long each job body sleeps")
    parser.add_argument("--duration", type=float, default=default.duration,
                        help="faults stop after this many seconds even if jobs are left")
    parser.add_argument("--restart-db", action=argparse.BooleanOptionalAction, default=default.restart_db,
                        help="restart the PostgreSQL / MariaDB server once, at --restart-at")
    parser.add_argument("--restart-at", type=float, default=default.restart_at)
    parser.add_argument("--crash-db", action="store_true",
                        help="make that restart a crash (PostgreSQL immediate stop, SIGKILL for MariaDB)")
    parser.add_argument("--synchronous-turns", action=argparse.BooleanOptionalAction,
                        help="passed to the runtime's config when given (--no-synchronous-turns: PostgreSQL "
                             "turns commit without waiting for their WAL flush)")
    parser.add_argument("--stop-one", action=argparse.BooleanOptionalAction, default=default.stop_one,
                        help="SIGSTOP one worker past the heartbeat threshold at --stop-at, then SIGCONT it")
    parser.add_argument("--stop-at", type=float, default=default.stop_at)
    parser.add_argument("--recovery-window", type=float, default=default.recovery_window,
                        help="after the faults, wait at most this long for every job to finish")
    parser.add_argument("--heartbeat", type=float, default=default.heartbeat, help="process_heartbeat_interval")
    parser.add_argument("--alive-threshold", type=float, default=default.alive_threshold,
                        help="process_alive_threshold")
    parser.add_argument("--crash-limit", type=int, help="passed to the runtime's config when given")
    parser.add_argument("--seed", type=int, help="seed of the random choice of the worker to kill")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    args.vendors = [v.strip() for v in args.db.split(",") if v.strip()]
    for vendor in args.vendors:
        if vendor not in VENDORS:
            parser.error(f"--db takes sqlite, postgres or mysql, not {vendor!r}")
    if args.jobs < 1 or args.kill_every <= 0 or args.job_seconds < 0:
        parser.error("--jobs and --kill-every must be positive and --job-seconds not negative")
    return args


def plans(args: argparse.Namespace) -> list[Plan]:
    deliveries = DELIVERIES if args.delivery == "both" else (args.delivery,)
    return [Plan(jobs=args.jobs, job_seconds=args.job_seconds, kill_every=args.kill_every, duration=args.duration,
                 stop_one=args.stop_one, stop_at=args.stop_at, restart_db=args.restart_db,
                 restart_at=args.restart_at, crash_db=args.crash_db, synchronous_turns=args.synchronous_turns,
                 recovery_window=args.recovery_window, heartbeat=args.heartbeat,
                 alive_threshold=args.alive_threshold, delivery=delivery, crash_limit=args.crash_limit,
                 seed=args.seed) for delivery in deliveries]


def run_one(vendor: str, plan: Plan, runs: Path) -> dict:
    """One trial in its own process (the settings pick the database at import)."""
    workdir = runs / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{vendor}-{plan.expected_delivery}"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DJ_QUEUE_TEST_DB": vendor, "DJANGO_SETTINGS_MODULE": "chaos.settings",
           "PYTHONPATH": str(HERE.parent)}
    timeout = plan.duration + plan.recovery_window + 600
    with (workdir / "trial.log").open("w") as log:
        done = subprocess.run([sys.executable, "-m", "chaos.trial", "--plan", json.dumps(asdict(plan)),
                               "--workdir", str(workdir)], cwd=HERE.parent, env=env, stdout=subprocess.PIPE,
                              stderr=log, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if not lines:
        tail = (workdir / "trial.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the trial exited with {done.returncode} and printed nothing:\n{tail}")
    (workdir / "result.json").write_text(lines[-1] + "\n")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runs = HERE / "runs"
    results, failed = [], 0
    for vendor in args.vendors:
        for plan in plans(args):
            try:
                result = run_one(vendor, plan, runs)
            except Exception as exc:  # one database failing must not hide the others' results
                result = {"db": vendor, "delivery": plan.expected_delivery,
                          "delivery_passed": plan.delivery is not None, "error": str(exc)}
            results.append(result)
            failed += bool(result.get("error") or result.get("violations"))
            if not args.json:
                print(text_report(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n" + markdown_table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
