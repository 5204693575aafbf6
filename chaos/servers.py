"""Restart the local PostgreSQL or MariaDB server mid-run, and make sure it is left running.

Only a server on this machine can be restarted (the harness runs as root next to it). Servers are
started the way ``ensure-services`` starts them on the project's machines; MariaDB is stopped by
signalling exactly the pid in its pid file, never by process name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")
PG_CONFIG = Path("/etc/postgresql")
MARIADBD = "/usr/sbin/mariadbd"
MARIADB_RUN_DIR = Path("/run/mysqld")
ANSWER_TIMEOUT = 60.0


class RestartError(RuntimeError):
    """The server could not be restarted (or is not local)."""


@dataclass(frozen=True)
class Server:
    """The database server a run uses: ``vendor`` is sqlite, postgres or mysql."""

    vendor: str
    host: str = ""
    port: str = ""
    user: str = ""

    @classmethod
    def from_settings(cls, vendor: str, database: dict) -> Server:
        return cls(vendor, str(database.get("HOST") or ""), str(database.get("PORT") or ""),
                   str(database.get("USER") or ""))


def can_restart(server: Server) -> str | None:
    """None when ``server`` can be restarted from here, else why not."""
    vendor, host = server.vendor, server.host
    if vendor not in ("postgres", "mysql"):
        return f"{vendor} has no server to restart"
    if host not in LOCAL_HOSTS:
        return f"the {vendor} server at {host} is not on this machine"
    if os.geteuid() != 0:
        return "restarting a database server needs root"
    if vendor == "postgres" and not _pg_version():
        return "no PostgreSQL cluster under /etc/postgresql"
    if vendor == "mysql" and not os.access(MARIADBD, os.X_OK):
        return f"{MARIADBD} is not installed"
    return None


def answers(server: Server) -> bool:
    """True when the server accepts a connection (PostgreSQL) or a query (MariaDB)."""
    host = server.host or "127.0.0.1"
    if server.vendor == "postgres":
        cmd = ["pg_isready", "-h", host, "-p", server.port or "5432", "-q"]
    else:
        cmd = ["mariadb", "-h", host, "-P", server.port or "3306", f"-u{server.user or 'root'}",
               "-e", "select 1"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def restart(server: Server, *, crash: bool = False) -> float:
    """Restart the server and wait until it answers; return the seconds it was unavailable.

    ``crash``: stop it as a crash would (PostgreSQL's immediate mode, SIGKILL for MariaDB), so
    what it had acknowledged but not yet written to disk is lost and recovery runs at start."""
    reason = can_restart(server)
    if reason:
        raise RestartError(f"cannot restart the database server: {reason}")
    started = time.monotonic()
    if server.vendor == "postgres":
        mode = ["-m", "immediate"] if crash else []
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "restart", *mode])
    else:
        _stop_mariadb(signal.SIGKILL if crash else signal.SIGTERM)
        _start_mariadb()
    _wait_answering(server)
    return time.monotonic() - started


def ensure_running(server: Server) -> None:
    """Start the server if it does not answer (the harness never leaves one down)."""
    if can_restart(server) or answers(server):
        return
    if server.vendor == "postgres":
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "start"], check=False)
    else:
        _start_mariadb()
    _wait_answering(server)


def _pg_version() -> str:
    versions = sorted(p.name for p in PG_CONFIG.iterdir()) if PG_CONFIG.is_dir() else []
    return versions[0] if versions else ""


def _mariadb_pid() -> int:
    for path in (MARIADB_RUN_DIR / "mysqld.pid", MARIADB_RUN_DIR / "mariadb.pid"):
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    found = subprocess.run(["pidof", "-s", "mariadbd"], capture_output=True, text=True).stdout.split()
    if not found:
        raise RestartError("cannot find the mariadbd pid (no pid file, pidof found nothing)")
    return int(found[0])


def _stop_mariadb(signum: int = signal.SIGTERM, timeout: float = ANSWER_TIMEOUT) -> None:
    pid = _mariadb_pid()
    os.kill(pid, signum)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise RestartError(f"mariadbd (pid {pid}) did not stop within {timeout:g}s")
        time.sleep(0.1)


def _start_mariadb() -> None:
    MARIADB_RUN_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "mysql:mysql", str(MARIADB_RUN_DIR)], capture_output=True)
    _run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADBD])


def _wait_answering(server: Server, timeout: float = ANSWER_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not answers(server):
        if time.monotonic() > deadline:
            raise RestartError(f"the {server.vendor} server did not answer within {timeout:g}s of its restart")
        time.sleep(0.2)


def _run(cmd: list[str], check: bool = True) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=ANSWER_TIMEOUT)
    if check and done.returncode != 0:
        raise RestartError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")
