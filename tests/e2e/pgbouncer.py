"""A throwaway PgBouncer in transaction-pooling mode in front of the test PostgreSQL database.

``pgbouncer`` (a fixture) starts Debian's ``pgbouncer`` binary on a free 127.0.0.1 port with its
own ini and userlist, and stops and reaps it at teardown. PgBouncer refuses to run as root, so as
root it runs with ``-u postgres`` from a directory that user owns (pytest's ``tmp_path`` sits below
a directory only root may enter).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

RUN_AS = "postgres"
READY_TIMEOUT = 15.0


@dataclass
class PgBouncer:
    """A running PgBouncer: where it listens and where it logs."""

    port: int
    directory: Path
    proc: subprocess.Popen

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, port: int) -> Path:
    db = settings.DATABASES["default"]
    target = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432}"
    if db.get("PASSWORD"):
        target += f" password={db['PASSWORD']}"
    (directory / "userlist.txt").write_text(f'"{db["USER"]}" "{db.get("PASSWORD") or ""}"\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text("\n".join([
        "[databases]",
        f"* = {target}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {directory / 'userlist.txt'}",
        "pool_mode = transaction",
        "max_client_conn = 500",
        "default_pool_size = 20",
        f"logfile = {directory / 'pgbouncer.log'}",
        "ignore_startup_parameters = extra_float_digits,options",
        "",
    ]))
    return ini


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start(directory: Path) -> PgBouncer:
    port = free_port()
    ini = write_config(directory, port)
    cmd = [binary(), str(ini)]
    if os.geteuid() == 0:
        user = pwd.getpwnam(RUN_AS)
        for path in (directory, *directory.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        cmd[1:1] = ["-u", RUN_AS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(port, directory, proc)
    deadline = time.monotonic() + READY_TIMEOUT
    while not accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(bouncer)
            pytest.fail(f"pgbouncer did not start on port {port}:\n{bouncer.log()}")
        time.sleep(0.05)
    return bouncer


def stop(bouncer: PgBouncer) -> None:
    """SIGTERM (PgBouncer's immediate shutdown), then SIGKILL; always reaped."""
    if bouncer.proc.poll() is None:
        bouncer.proc.send_signal(signal.SIGTERM)
        try:
            bouncer.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            bouncer.proc.kill()
            bouncer.proc.wait(timeout=10)


@pytest.fixture
def pgbouncer():
    """A PgBouncer in transaction-pooling mode in front of the test database's server."""
    if binary() is None:
        pytest.skip("the pgbouncer binary is not installed (Debian: apt-get install pgbouncer)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            pytest.skip(f"pgbouncer refuses to run as root and there is no {RUN_AS!r} user to run it as")
    directory = Path(tempfile.mkdtemp(prefix="dj_queue-pgbouncer-"))
    bouncer = None
    try:
        bouncer = start(directory)
        yield bouncer
    finally:
        if bouncer is not None:
            stop(bouncer)
        shutil.rmtree(directory, ignore_errors=True)
