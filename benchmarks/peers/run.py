"""``make bench-peers``: dj_queue beside other Python database queues, measured in one run.

    python benchmarks/peers/run.py [--db postgres|mysql|sqlite] [--jobs 5000] [--rounds 3]
                                   [--peers ours,upstream,pgqueuer,procrastinate] [--venvs DIR]
                                   [--baseline DIR]

Installs pgqueuer, procrastinate and upstream dj-queue from PyPI into virtualenvs of their own
(under a temporary folder, or ``--venvs`` to keep and reuse them), gives every peer a database
of its own on the same server, and drives each only through its public API and CLI
(``benchmarks/peers/drive_*.py``). PostgreSQL runs every peer; MariaDB and SQLite compare
dj_queue with upstream dj-queue only.

Each round, for each peer in turn (the order rotates from round to round): bulk-enqueue
``--jobs`` no-op jobs, launch the runtime (2 processes x 4 concurrency where the peer has
them), time until no job is left, from launch (start-up included) and from the first finished
job. Django's default logging is left on, and each peer logs as its CLI does by default. The
ours/peer ratios are medians of the rounds' ratios. Then the idle enqueue-to-start latency.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dbstats import Database  # noqa: E402
from drain import drain, latency  # noqa: E402
from peers import PEERS, Peer, baseline, install  # noqa: E402

COLUMNS = [("drain", "drain/s", ",.0f"), ("after_first", "after 1st/s", ",.0f"),
           ("bulk_enqueue", "bulk enq/s", ",.0f"), ("cpu_ms", "CPU ms/job", ".2f"),
           ("server_cpu_ms", "in DB", ".2f"), ("rows", "rows/job", ",.1f"), ("xacts", "xacts/job", ".2f")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgres", choices=["postgres", "mysql", "sqlite"])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=40, help="latency samples per peer")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--venvs", type=Path, help="keep the peers' virtualenvs here and reuse them")
    parser.add_argument("--baseline", type=Path, help="also run dj_queue from this checkout (an earlier commit's "
                        "worktree) as a peer: before/after in the same rounds")
    args = parser.parse_args()
    if min(args.jobs, args.rounds, args.samples) < 1:
        parser.error("--jobs, --rounds and --samples must be at least 1")
    unknown = [name for name in args.peers.split(",") if name not in PEERS]
    if unknown:
        parser.error(f"unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)}")
    peers = [PEERS[name] for name in args.peers.split(",") if args.db in PEERS[name].vendors]
    if args.baseline is not None:
        if not (args.baseline / "dj_queue" / "__init__.py").exists():
            parser.error(f"--baseline {args.baseline}: no dj_queue package there")
        peers.append(baseline(args.baseline))
    tmp = Path(tempfile.mkdtemp(prefix="dj-queue-peers-"))
    try:
        return run(args, peers, tmp, args.venvs or tmp / "venvs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, peers: list[Peer], tmp: Path, venvs: Path) -> int:
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{load()}; Python {platform.python_version()}; {args.db}; {args.jobs} no-op jobs; "
          f"median of {args.rounds} alternating rounds", flush=True)
    install(peers, venvs, args.db)
    db = Database(args.db, tmp)
    log = tmp / "runtime.log"
    rounds: dict[str, list[dict]] = {peer.name: [] for peer in peers}
    try:
        for r in range(args.rounds):
            for peer in peers[r % len(peers):] + peers[:r % len(peers)]:
                rounds[peer.name].append(drain(peer, db, venvs, args.jobs, log))
                print(f"  round {r + 1}: {peer.label:<28} {rounds[peer.name][-1]['drain']:>8,.0f} jobs/s", flush=True)
        lat = {peer.name: latency(peer, db, venvs, args.samples, tmp, log) for peer in peers}
    except Exception:
        if log.exists():
            print(f"--- last lines of the runtimes' log ---\n{''.join(log.read_text().splitlines(True)[-30:])}")
        raise
    finally:
        for peer in peers:
            try:
                db.drop(peer.name)
            except Exception as exc:  # must not hide why the run stopped
                print(f"could not drop {db.name(peer.name)}: {exc}")
    report(args, peers, rounds, lat)
    print(f"load average at the end: {load()}")
    return 0


def report(args: argparse.Namespace, peers: list[Peer], rounds: dict[str, list[dict]], lat: dict) -> None:
    print(f"\n{'':<28}" + "".join(f"{title:>13}" for _, title, _ in COLUMNS) + f"{'lat p50/p95 ms':>17}")
    for peer in peers:
        cells = []
        for key, _, fmt in COLUMNS:
            values = [m[key] for m in rounds[peer.name] if m[key] is not None]
            cells.append(f"{format(statistics.median(values), fmt):>13}" if values else f"{'-':>13}")
        lat_cell = f"{lat[peer.name]['p50']:.1f} / {lat[peer.name]['p95']:.1f}"
        print(f"{peer.label:<28}" + "".join(cells) + f"{lat_cell:>17}")
    if "ours" not in rounds:
        return
    print("\nours / peer, median of the rounds' ratios (drain from launch; CPU per job: peer / ours, "
          "above 1 means we spend less):")
    ours = rounds["ours"]
    for peer in peers:
        if peer.name == "ours":
            continue
        theirs = rounds[peer.name]
        drain_ratios = [o["drain"] / t["drain"] for o, t in zip(ours, theirs)]
        first_ratios = [o["after_first"] / t["after_first"] for o, t in zip(ours, theirs)]
        enqueue_ratios = [o["bulk_enqueue"] / t["bulk_enqueue"] for o, t in zip(ours, theirs)]
        cpu_ratios = [t["cpu_ms"] / o["cpu_ms"] for o, t in zip(ours, theirs)]
        print(f"  vs {peer.label:<26} drain {ratio(drain_ratios)}  after 1st {ratio(first_ratios)}  "
              f"bulk enqueue {ratio(enqueue_ratios)}  CPU/job {ratio(cpu_ratios)}")


def ratio(values: list[float]) -> str:
    rounds = ", ".join(f"{v:.2f}" for v in values)
    return f"{statistics.median(values):.2f}x" + (f" ({rounds})" if len(values) > 1 else "")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
