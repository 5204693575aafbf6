"""Start ``manage.py dj_queue`` as a real subprocess against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# Low intervals keep the end-to-end tests quick; individual tests override what they probe.
BASE_CONFIG: dict[str, Any] = {
    "process_heartbeat_interval": 0.5,
    "process_alive_threshold": 30,
    "shutdown_timeout": 5,
    "workers": [{"queues": "*", "threads": 3, "processes": 1, "polling_interval": 0.05}],
    "dispatchers": [{"batch_size": 100, "polling_interval": 0.1}],
}


class Runtime:
    """One ``dj_queue`` supervisor subprocess; always stopped by the fixture."""

    def __init__(self, tmp_path: Path, mode: str, config: dict[str, Any], args: list[str], name: str) -> None:
        self.config_path = tmp_path / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump({**BASE_CONFIG, **config}))
        self.log_path = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
            "DJ_QUEUE_TEST_DB": settings.DB,
            "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        }
        cmd = [sys.executable, "-m", "django", "dj_queue", "--mode", mode, "--config", str(self.config_path), *args]
        self._log = self.log_path.open("wb")
        # Own session: a signal meant for the runtime never reaches pytest.
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """TERM, then KILL the whole session if it lingers; never leaves a process behind."""
        try:
            if self.proc.poll() is None:
                self.signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            else:
                _kill_group(self.proc.pid)
        finally:
            self._log.close()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def start_runtime(tmp_path):
    """``start_runtime(mode, config={}, args=[])`` -> a running ``Runtime``; all stopped at teardown."""
    started: list[Runtime] = []

    def start(mode: str, config: dict[str, Any] | None = None, args: list[str] | None = None) -> Runtime:
        runtime = Runtime(tmp_path, mode, config or {}, args or [], name=f"runtime{len(started)}")
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
    # Children of a supervisor that was killed outright are in the same session.
    for runtime in started:
        _kill_group(runtime.pid)
