"""Start real uvicorn and Gunicorn servers as subprocesses against the test database."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# Quick heartbeats and polling; the shutdown budget stays well inside the servers' own.
FAST_OPTIONS: dict[str, Any] = {
    "process_heartbeat_interval": 0.5,
    "shutdown_timeout": 3,
    "workers": [{"queues": "*", "threads": 2, "polling_interval": 0.05}],
    "dispatchers": [{"batch_size": 100, "polling_interval": 0.1}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server subprocess in its own session; ``stop()`` always leaves nothing behind."""

    def __init__(self, tmp_path: Path, name: str, cmd: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as response:
            return response.status, json.loads(response.read())

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/ping/`` answers; fail with the server's log if it died or never did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/ping/", timeout=1)[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        pytest.fail(f"server did not answer within {timeout}s:\n{self.log()}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a process manager would; return the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server did not exit within {timeout}s of SIGTERM:\n{self.log()}")

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # workers of a killed arbiter share its session
            except (ProcessLookupError, PermissionError):
                pass
            if self.proc.poll() is None:
                self.proc.wait(timeout=10)
            self._log.close()


_control_sockets = itertools.count()


def gunicorn_control_args() -> list[str]:
    """Gunicorn 27+ opens a control socket, by default at one path per user
    (``~/.gunicorn/gunicorn.ctl``): servers of concurrent test runs (CI runs two databases at
    once) would share it. Each server gets its own (a short path: a socket's is limited to about
    100 bytes, too few for pytest's ``tmp_path``); older releases have none."""
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket" for setting in KNOWN_SETTINGS):
        name = f"dj-queue-gunicorn-{os.getpid()}-{next(_control_sockets)}.ctl"
        return ["--control-socket", os.path.join(tempfile.gettempdir(), name)]
    return []


def server_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.embedding.settings",
        "PYTHONPATH": str(ROOT),
        "DJ_QUEUE_TEST_DB": settings.DB,
        "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "DJ_QUEUE_LOG_LEVEL": "INFO",
        **extra,
    }


@pytest.fixture
def start_server(tmp_path):
    """``start_server(kind, options=FAST_OPTIONS, env={}, args=[])`` -> a ``Server``; all stopped at teardown."""
    started: list[Server] = []

    def start(kind: str, options: dict[str, Any] | None = None, env: dict[str, str] | None = None,
              args: list[str] | None = None) -> Server:
        port = free_port()
        if kind == "uvicorn":
            pytest.importorskip("uvicorn")
            cmd = [sys.executable, "-m", "uvicorn", "tests.embedding.project:application", "--host", "127.0.0.1",
                   "--port", str(port), "--lifespan", "on", "--log-level", "info"]
        elif kind == "gunicorn":
            pytest.importorskip("gunicorn")
            cmd = [sys.executable, "-m", "gunicorn", "-c", str(HERE / "gunicorn.conf.py"), "-b",
                   f"127.0.0.1:{port}", *gunicorn_control_args(), "tests.embedding.project:wsgi_application"]
        else:
            raise ValueError(kind)
        opts = FAST_OPTIONS if options is None else options
        full_env = server_env(DJ_QUEUE_EMBED_OPTIONS=json.dumps(opts), **(env or {}))
        server = Server(tmp_path, f"{kind}{len(started)}", cmd + (args or []), full_env, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
