"""``make bench``: dj_queue's enqueue, drain and latency figures per database, beside a raw-driver
baseline measured in the same run.

    python benchmarks/run.py [--db sqlite,postgres,mysql] [--jobs 5000] [--rounds 3]
    python benchmarks/run.py --scale [--db postgres]     # make bench-scale: see benchmarks/scale.py
    python benchmarks/run.py --rss [--db sqlite,postgres] [--jobs 100000]  # make bench-rss: benchmarks/rss.py

The drain, the baseline and the user-view drain (jobs enqueued before the runtime is launched,
Django's default logging on, start-up included: what a user sees first) are measured in
``--rounds`` alternating rounds; the ratio compared with the target is the median of the rounds'
drain/baseline ratios, so one slow moment of a shared machine does not decide it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# What the runtime issue promises on this kind of machine (see README "Performance").
TARGET_RATIO = 1.2
SQLITE_TARGET = 1500
# LISTEN/NOTIFY must cut the idle enqueue->start latency p50 at least this much versus polling alone.
NOTIFY_TARGET = 5.0
# Local wake-ups (MariaDB, SQLite; producer and workers on one host): idle latency p50 at most this.
LOCAL_WAKE_TARGET_MS = 10.0
# Scale mode: (small backlog, large backlog, history) per database. MariaDB and SQLite get smaller
# sizes, as loading a million rows there through multi-row INSERTs takes minutes on this machine.
SCALE_SIZES = {"postgres": ("5000,500000", 1_000_000), "mysql": ("5000,100000", 200_000),
               "sqlite": ("5000,100000", 200_000)}
# The drain with the large backlog or the history must stay within this of the small one.
SCALE_TOLERANCE = 0.15
# Single enqueue (its own transaction) against a raw single-row INSERT + commit through the same driver.
SINGLE_TARGET = 0.8
# Resident memory of one worker process after 100,000 jobs, at most (issue 11).
RSS_TARGET_MB = 60


def measure(vendor: str, jobs: int, rounds: int) -> dict:
    env = {**os.environ, "DJ_QUEUE_BENCH_DB": vendor}
    done = subprocess.run([sys.executable, str(HERE / "measure.py"), "--jobs", str(jobs), "--rounds", str(rounds)],
                          env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"{vendor}: measurement failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_scale(vendor: str) -> list[dict]:
    waiting, history = SCALE_SIZES[vendor]
    env = {**os.environ, "DJ_QUEUE_BENCH_DB": vendor}
    done = subprocess.run([sys.executable, str(HERE / "scale.py"), "--waiting", waiting, "--history", str(history)],
                          env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{vendor}: scale measurement failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_rss(vendor: str, jobs: int) -> dict:
    env = {**os.environ, "DJ_QUEUE_BENCH_DB": vendor}
    done = subprocess.run([sys.executable, str(HERE / "rss.py"), "--jobs", str(jobs)],
                          env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{vendor}: RSS measurement failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_rss(vendor: str, m: dict) -> int:
    """Each worker's RSS idle, after a tenth of the jobs and after all; the verdict on the last."""
    print(f"\n[{vendor}] RSS per worker process, MB ({m['jobs']:,} no-op jobs, drained at {m['drain']:,.0f} jobs/s)")
    for label, per_pid in m["rss_mb"].items():
        print(f"  {label:28}" + "".join(f"{mb:>12.1f}" for mb in per_pid.values()))
    last = max(list(m["rss_mb"].values())[-1].values())
    ok = last <= RSS_TARGET_MB
    print(f"  target           <= {RSS_TARGET_MB} MB per worker after the jobs: {'met' if ok else 'NOT met'}")
    return 0


def report_scale(vendor: str, situations: list[dict]) -> int:
    """One column per situation; the drain ratios against the small backlog, and the verdict."""
    print(f"\n[{vendor}] scale")
    heads = [f"{s['waiting']:,} waiting" + (f", {s['history']:,} kept" if s["history"] else "")
             for s in situations]
    print(f"  {'':28}" + "".join(f"{head:>30}" for head in heads))
    print(f"  {'drain (first 5,000) jobs/s':28}" + "".join(f"{s['drain']:>30,.0f}" for s in situations))
    if situations[0].get("rows_per_job") is not None:
        print(f"  {'DB rows read per job':28}" + "".join(f"{s['rows_per_job']:>30,.1f}" for s in situations))
    print(f"  {'single enqueue jobs/s':28}" + "".join(f"{s['single_enqueue']:>30,.0f}" for s in situations))
    for name in situations[0]["timings_ms"]:
        print(f"  {name + ' ms':28}" + "".join(f"{s['timings_ms'][name]:>30.1f}" for s in situations))
    print(f"  {'rows loaded in s':28}" + "".join(f"{s['load_s']:>30.1f}" for s in situations))
    ratios = [s["drain"] / situations[0]["drain"] for s in situations[1:]]
    ok = all(abs(ratio - 1) <= SCALE_TOLERANCE for ratio in ratios)
    print(f"  drain vs the small backlog: {', '.join(f'{r:.2f}x' for r in ratios)} (target within "
          f"±{SCALE_TOLERANCE:.0%}: {'met' if ok else 'NOT met'}; one run each, on a shared machine)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres,mysql")
    parser.add_argument("--jobs", type=int, help="5,000 (100,000 with --rss)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", action="store_true", help="the scale mode (benchmarks/scale.py) instead")
    parser.add_argument("--rss", action="store_true", help="RSS per worker after --jobs (benchmarks/rss.py) instead")
    args = parser.parse_args()
    args.jobs = args.jobs or (100_000 if args.rss else 5000)
    if args.rounds < 1 or args.jobs < 1:
        parser.error("--jobs and --rounds must be at least 1")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; runtime: benchmarks/runtime.yml; "
          + ("scale mode: one run of each situation (benchmarks/scale.py)" if args.scale else
             f"RSS mode: {args.jobs:,} no-op jobs, one run (benchmarks/rss.py)" if args.rss else
             f"{args.jobs} no-op jobs; drain and baseline: median of {args.rounds} alternating rounds"))
    failures = 0
    for vendor in [v.strip() for v in args.db.split(",") if v.strip()]:
        try:
            if args.scale:
                failures += report_scale(vendor, measure_scale(vendor))
                continue
            if args.rss:
                failures += report_rss(vendor, measure_rss(vendor, args.jobs))
                continue
            failures += report(vendor, measure(vendor, args.jobs, args.rounds))
        except Exception as exc:  # one database failing must not hide the others' figures
            print(f"\n[{vendor}] ERROR: {exc}")
            failures += 1
    return 1 if failures else 0


def report(vendor: str, m: dict) -> int:
    drain = statistics.median(m["drains"])
    print(f"\n[{vendor}]")
    print(f"  bulk enqueue     {m['bulk_enqueue']:>10,.0f} jobs/s")
    print(f"  single enqueue   {m['single_enqueue']:>10,.0f} jobs/s  (rounds: {rates(m['single_enqueues'])})")
    report_single(m)
    print(f"  drain            {drain:>10,.0f} jobs/s  (rounds: {rates(m['drains'])})")
    print(f"  user-view drain  {statistics.median(m['user_drains']):>10,.0f} jobs/s  (rounds: "
          f"{rates(m['user_drains'])}; jobs waiting before launch, Django's default logging, "
          "start-up included)")
    print(f"  latency p50/p95  {m['latency_ms']['p50']:>7.1f} / {m['latency_ms']['p95']:.1f} ms")
    if "latency_polling_ms" in m:
        report_wakeups(vendor, m["latency_ms"], m["latency_polling_ms"])
    if vendor == "sqlite":
        ok = drain >= SQLITE_TARGET
        print(f"  target           drain >= {SQLITE_TARGET} jobs/s: {'met' if ok else 'NOT met'}")
        return 0
    base = statistics.median(m["baselines"])
    # Each round pairs a drain with the baseline run right after it, so the compared figure is
    # the median of the rounds' ratios; the ratio of the two medians is printed beside it.
    ratios = [d / b for d, b in zip(m["drains"], m["baselines"])]
    print(f"  raw baseline     {base:>10,.0f} jobs/s  (rounds: {rates(m['baselines'])}; 2 processes, "
          "claim 1 + finish 1, two commits per job)")
    print_ratio("drain / baseline", ratios, TARGET_RATIO, f"; ratio of the medians {drain / base:.2f}x")
    return 0


def report_single(m: dict) -> None:
    """The raw single-row INSERT beside single enqueue, and their ratio (median of the rounds')."""
    ratios = [e / r for e, r in zip(m["single_enqueues"], m["raw_inserts"])]
    print(f"  raw single INSERT {statistics.median(m['raw_inserts']):>9,.0f} rows/s  (rounds: {rates(m['raw_inserts'])};"
          " the driver alone, autocommit: one row, one commit each)")
    print_ratio("single / raw", ratios, SINGLE_TARGET)
    if m.get("statements_alone"):  # PostgreSQL: what no Python work around the statement can beat
        ceiling = [s / r for s, r in zip(m["statements_alone"], m["raw_inserts"])]
        print(f"  statement alone  {statistics.median(m['statements_alone']):>10,.0f} rows/s  (rounds: "
              f"{rates(m['statements_alone'])}; the enqueue's own INSERT sent again, nothing around it)")
        print(f"  ceiling / raw    {statistics.median(ceiling):>10.2f}x  (median of the rounds' ratios "
              f"{', '.join(f'{r:.2f}x' for r in ceiling)}: single / raw with no Python of ours or Django's)")


def print_ratio(label: str, ratios: list[float], target: float, extra: str = "") -> None:
    """One paired comparison: the median of the rounds' ratios against its target."""
    ratio = statistics.median(ratios)
    print(f"  {label:<16} {ratio:>10.2f}x  (median of the rounds' ratios {', '.join(f'{r:.2f}x' for r in ratios)}; "
          f"target {target}x: {'met' if ratio >= target else 'NOT met'}{extra})")


def rates(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def report_wakeups(vendor: str, woken: dict, polling: dict) -> None:
    """Print the polling-only latency beside the one with wake-ups, and their p50 ratio."""
    ratio = polling["p50"] / max(woken["p50"], 1e-9)
    print(f"  polling only     {polling['p50']:>7.1f} / {polling['p95']:.1f} ms  (no wake-up plugins)")
    if vendor == "postgres":
        print(f"  NOTIFY speed-up  {ratio:>10.1f}x  p50, polling / LISTEN-NOTIFY "
              f"(target {NOTIFY_TARGET:.0f}x: {'met' if ratio >= NOTIFY_TARGET else 'NOT met'})")
        return
    ok = woken["p50"] <= LOCAL_WAKE_TARGET_MS
    print(f"  local wake-ups   {ratio:>10.1f}x  p50, polling / local wake-ups "
          f"(target p50 <= {LOCAL_WAKE_TARGET_MS:.0f} ms: {'met' if ok else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
