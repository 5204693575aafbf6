"""The faults a chaos run injects: SIGKILL a random worker every few seconds, SIGSTOP one past the
heartbeat threshold (then SIGCONT it), restart the database server once.

Every signal sent is recorded with its time and pid: a job that ran twice is explained only when
an earlier run's pid is one of them.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos import servers


@dataclass(frozen=True)
class Event:
    """One fault: ``at`` seconds after the faults started."""

    at: float
    action: str  # SIGKILL, SIGSTOP, SIGCONT, db-restart
    pid: int | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def child_pids(parent: int) -> set[int]:
    """Live (not zombie) children of ``parent``, from /proc."""
    pids: set[int] = set()
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        try:
            pids.update(int(pid) for pid in children.read_text().split())
        except (OSError, ValueError):
            continue
    return {pid for pid in pids if _state(pid) not in ("Z", "X", "")}


def _state(pid: int) -> str:
    try:
        # The command name in parentheses may hold spaces: the state follows the last ")".
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


class Workers:
    """The worker processes of one supervisor: its /proc children whose process row says worker."""

    def __init__(self, supervisor_pid: int) -> None:
        self.supervisor_pid = supervisor_pid
        self.hostname = socket.gethostname()
        self._kinds: dict[int, str] = {}

    def live(self) -> list[int]:
        children = child_pids(self.supervisor_pid)
        unknown = children - set(self._kinds)
        if unknown:
            self._learn(unknown)
        return sorted(pid for pid in children if self._kinds.get(pid) == "worker")

    def _learn(self, pids: set[int]) -> None:
        from dj_queue.models import Process

        try:
            rows = Process.objects.filter(hostname=self.hostname, pid__in=pids).values_list("pid", "kind")
            self._kinds.update(dict(rows))
        except Exception:  # the database is restarting: ask again on the next tick
            drop_connection()


def drop_connection() -> None:
    """Close this thread's connection after an error (the server may be restarting)."""
    from django.db import connection

    try:
        connection.close()
    except Exception:
        pass


class Faults:
    """Inject the planned faults; ``tick()`` is called often from the run's loop."""

    def __init__(self, workers: Workers, *, kill_every: float, stop_at: float | None, stop_for: float,
                 restart_at: float | None, server: servers.Server, seed: int | None = None,
                 crash_db: bool = False) -> None:
        self.workers = workers
        self.kill_every = kill_every
        self.stop_at, self.stop_for = stop_at, stop_for
        self.restart_at = restart_at
        self.crash_db = crash_db
        self.server = server
        self.random = random.Random(seed)
        self.events: list[Event] = []
        self.started = time.monotonic()
        self._next_kill = kill_every
        self._stopped: int | None = None
        self._restarter: threading.Thread | None = None
        self.restart_error: str | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def faulted_pids(self) -> set[int]:
        """Every pid killed or stopped so far."""
        return {e.pid for e in self.events if e.action in ("SIGKILL", "SIGSTOP") and e.pid is not None}

    def tick(self) -> None:
        now = self.elapsed()
        if self._stopped is not None and now >= self.stop_at + self.stop_for:
            self._signal(self._stopped, signal.SIGCONT)
            self._stopped = None
        if self.stop_at is not None and now >= self.stop_at and not self._done("SIGSTOP"):
            self._stop_one()
        if self.restart_at is not None and now >= self.restart_at and self._restarter is None:
            self._restarter = threading.Thread(target=self._restart, name="chaos-db-restart", daemon=True)
            self._restarter.start()
        if now >= self._next_kill:
            self._next_kill += self.kill_every
            self._kill_one()

    def pending(self) -> list[str]:
        """Planned one-off faults that have not happened (or not finished) yet."""
        left = []
        if self.stop_at is not None and (not self._done("SIGSTOP") or self._stopped is not None):
            left.append("SIGSTOP/SIGCONT")
        if self.restart_at is not None and (self._restarter is None or self._restarter.is_alive()):
            left.append("db-restart")
        return left

    def finish(self) -> None:
        """End the faults: continue a stopped worker, wait for a restart, leave the server running."""
        if self._stopped is not None:
            self._signal(self._stopped, signal.SIGCONT)
            self._stopped = None
        if self._restarter is not None:
            self._restarter.join(timeout=servers.ANSWER_TIMEOUT * 2)
        servers.ensure_running(self.server)

    def _done(self, action: str) -> bool:
        return any(e.action == action for e in self.events)

    def _candidates(self) -> list[int]:
        return [pid for pid in self.workers.live() if pid != self._stopped]

    def _kill_one(self) -> None:
        candidates = self._candidates()
        if not candidates:
            self.events.append(Event(round(self.elapsed(), 2), "SIGKILL", None, "no live worker to kill"))
            return
        self._signal(self.random.choice(candidates), signal.SIGKILL)

    def _stop_one(self) -> None:
        candidates = self._candidates()
        if candidates:  # none alive right now (all restarting): try again on the next tick
            self._stopped = self.random.choice(candidates)
            self._signal(self._stopped, signal.SIGSTOP, f"for {self.stop_for:g}s")

    def _signal(self, pid: int, signum: int, detail: str = "") -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            detail = "already gone"
        self.events.append(Event(round(self.elapsed(), 2), signal.Signals(signum).name, pid, detail))

    def _restart(self) -> None:
        at = round(self.elapsed(), 2)
        try:
            down = servers.restart(self.server, crash=self.crash_db)
            how = "crashed; " if self.crash_db else ""
            self.events.append(Event(at, "db-restart", None,
                                     f"{self.server.vendor} {how}answered again after {down:.1f}s"))
        except Exception as exc:
            self.restart_error = str(exc)
            self.events.append(Event(at, "db-restart", None, f"failed: {exc}"))
