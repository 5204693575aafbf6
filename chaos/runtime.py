"""The runtime under test: ``manage.py dj_queue --mode fork`` with a YAML config, as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKERS, THREADS = 2, 4


def config(*, heartbeat: float, alive_threshold: float, delivery: str | None = None,
           crash_limit: int | None = None, synchronous_turns: bool | None = None) -> dict[str, Any]:
    """2 worker processes x 4 threads polling every 0.1 s; ``delivery`` / ``crash_limit`` only when given."""
    options: dict[str, Any] = {
        "mode": "fork",
        "workers": [{"queues": "*", "threads": THREADS, "processes": WORKERS, "polling_interval": 0.1}],
        "dispatchers": [{"batch_size": 500, "polling_interval": 0.5}],
        "process_heartbeat_interval": heartbeat,
        "process_alive_threshold": alive_threshold,
        "shutdown_timeout": 5,
    }
    # Passed only when asked: a runtime that does not know these keys refuses them.
    if delivery is not None:
        options["delivery"] = delivery
    if crash_limit is not None:
        options["crash_limit"] = crash_limit
    if synchronous_turns is not None:
        options["synchronous_turns"] = synchronous_turns
    return options


class Runtime:
    """One supervisor in its own session, so nothing it leaves behind outlives ``stop()``."""

    def __init__(self, workdir: Path, options: dict[str, Any], env: dict[str, str]) -> None:
        self.config_path = workdir / "config.yml"
        self.config_path.write_text(yaml.safe_dump(options, sort_keys=False))
        self.log_path = workdir / "runtime.log"
        self._log = self.log_path.open("ab")
        cmd = [sys.executable, str(HERE / "manage.py"), "dj_queue", "--mode", "fork",
               "--config", str(self.config_path)]
        full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chaos.settings", "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL the whole session if it lingers. Returns the exit code."""
        code = None
        try:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    code = self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            else:
                code = self.proc.returncode
        finally:
            _kill_session(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.wait(timeout=10)
            self._log.close()
        return code

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _kill_session(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
