"""The queues ``make bench-peers`` compares: how to install each, start its runtime and see how
many of its jobs are still to run. Each lives in its own virtualenv holding what a user installs:
ours is this checkout installed editable with its database extras only (not the dev venv, whose
``prometheus_client`` and OpenTelemetry SDK switch on the metrics and tracing plugins), and its
source is compiled to bytecode as pip compiles the peers' (``PYTHONDONTWRITEBYTECODE``, set on
some machines, would otherwise make every runtime start compile dj_queue again)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUNTIME_CONFIG = HERE.parent / "runtime.yml"
PROCESSES = 2
CONCURRENCY = 4


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    driver: str
    requirements: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ("postgres",)
    env: dict[str, str] = field(default_factory=dict)
    # SQL giving the number of jobs not yet finished, per vendor (the same on every vendor here).
    remaining_sql: str = ""
    # On SQLite a frequent poll holds up the writers, so it runs once a second and the drain's
    # times come from the jobs' own timestamps: first and last finished_at (UTC text).
    finished_span_sql: str = ""
    venv: str = ""  # another peer's virtualenv to run in (default: its own, named after it)

    @property
    def is_ours(self) -> bool:
        """dj_queue run from a checkout (this one or a ``--baseline``), not installed from PyPI."""
        return self.env.get("PEER_FLAVOUR") == "ours"

    def python(self, venvs: Path) -> str:
        return str(venvs / (self.venv or self.name) / "bin/python")

    def runtime_commands(self, venvs: Path) -> list[list[str]]:
        """argv lists of the processes a user starts: 2 processes x 4 concurrency where possible."""
        python = self.python(venvs)
        if self.is_ours:
            return [[python, "-m", "django", "dj_queue", "--config", str(RUNTIME_CONFIG)]]
        if self.name == "upstream":  # its supervisor forks the 2 x 4 workers set in peer_settings
            return [[python, "-m", "django", "dj_queue"]]
        if self.driver == "drive_pgqueuer.py":  # one asyncio process per "worker process"
            return [[python, str(HERE / self.driver), "run"]] * PROCESSES
        cli = str(Path(python).with_name("procrastinate"))
        return [[cli, "--app=procrastinate_app.app", "worker", f"--concurrency={CONCURRENCY}"]] * PROCESSES


OURS = Peer("ours", "dj_queue (this tree)", "drive_django.py", ("-e", f"{ROOT}[postgres]"),
            vendors=("postgres", "mysql", "sqlite"), env={"PEER_FLAVOUR": "ours"},
            remaining_sql="SELECT count(*) FROM dj_queue_job WHERE finished_at IS NULL",
            finished_span_sql="SELECT min(finished_at), max(finished_at) FROM dj_queue_job")

PGQUEUER = Peer("pgqueuer", "pgqueuer 1.6.0", "drive_pgqueuer.py", ("pgqueuer[asyncpg]==1.6.0",),
                remaining_sql="SELECT count(*) FROM pgqueuer")

PEERS = {
    "ours": OURS,
    # The same checkout and venv with the backend option synchronous_turns off: a worker's turn
    # commits without waiting for its WAL flush (docs/performance.md says what that trades).
    "ours-async-turns": replace(OURS, name="ours-async-turns", label="dj_queue, synchronous_turns off",
                                requirements=(), vendors=("postgres",), venv="ours",
                                env={**OURS.env, "PEER_SYNCHRONOUS_TURNS": "0"}),
    "upstream": Peer("upstream", "upstream dj-queue 0.14.2", "drive_django.py",
                     ("dj-queue==0.14.2", "psycopg[binary]>=3.3.3"), ("postgres", "mysql", "sqlite"),
                     {"PEER_FLAVOUR": "upstream"},
                     "SELECT count(*) FROM dj_queue_jobs WHERE finished_at IS NULL",
                     "SELECT min(finished_at), max(finished_at) FROM dj_queue_jobs"),
    "pgqueuer": PGQUEUER,
    # pgqueuer held to our topology (at most CONCURRENCY jobs in flight per process), for
    # information: the headline comparison is pgqueuer as it runs by default.
    "pgqueuer-4": replace(PGQUEUER, name="pgqueuer-4", label=f"pgqueuer, batch 2, max {CONCURRENCY}",
                          requirements=(), venv="pgqueuer",
                          env={"PEER_PGQ_BATCH": "2", "PEER_PGQ_MAX_CONCURRENT": str(CONCURRENCY)}),
    "procrastinate": Peer("procrastinate", "procrastinate 3.10.0", "drive_procrastinate.py",
                          ("procrastinate==3.10.0", "psycopg[binary]"),
                          remaining_sql="SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"),
}


def baseline(source: Path) -> Peer:
    """dj_queue from another checkout (``--baseline DIR``, e.g. a ``git worktree`` of an earlier
    commit), first on the path of a venv like ours: a before/after in the same alternating rounds."""
    return replace(OURS, name="baseline", label=f"dj_queue at {source.name}",
                   env={**OURS.env, "PEER_SOURCE": str(source.resolve())})


def install(peers: list[Peer], venvs: Path, vendor: str) -> None:
    """Create each peer's virtualenv under ``venvs`` (kept ones are reused), in parallel."""
    def one(peer: Peer) -> None:
        stamp = venvs / peer.name / ".installed"
        extra = ("mysqlclient",) if vendor == "mysql" else ()
        wanted = " ".join(peer.requirements + extra)
        if stamp.exists() and set(stamp.read_text().split()) >= set(wanted.split()):
            return
        log = venvs / f"{peer.name}-install.log"
        with open(log, "w") as out:
            if not Path(peer.python(venvs)).exists():
                subprocess.run([sys.executable, "-m", "venv", str(venvs / peer.name)], check=True,
                               stdout=out, stderr=subprocess.STDOUT)
            done = subprocess.run([peer.python(venvs), "-m", "pip", "install", "-q", *peer.requirements, *extra],
                                  stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"installing {peer.label} failed; see {log}")
        stamp.write_text(wanted)

    venvs.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=3) as pool:
        owners = {owner.name: owner for owner in (PEERS[peer.venv] if peer.venv else peer for peer in peers)}
        list(pool.map(one, owners.values()))
    compile_sources(peers, venvs)


def compile_sources(peers: list[Peer], venvs: Path) -> None:
    """Bytecode for the code run from source (our checkouts, the drivers), as pip made the peers'."""
    jobs = {(peer.python(venvs), str(HERE)) for peer in peers}
    for peer in filter(lambda peer: peer.is_ours, peers):
        source = Path(peer.env.get("PEER_SOURCE", ROOT))
        jobs |= {(peer.python(venvs), str(source / package)) for package in ("dj_queue", "dj_queue_plugins")}
    for python, folder in sorted(jobs):
        subprocess.run([python, "-m", "compileall", "-q", folder], check=True, stdout=subprocess.DEVNULL)
