"""``supervisor_pidfile``: refuse a second supervisor on the same host."""

from __future__ import annotations

import os
from pathlib import Path

from dj_queue.exceptions import ConfigurationError


class PidfileError(ConfigurationError):
    """Another supervisor holds the pidfile."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Pidfile:
    """A pidfile taken with ``O_EXCL``; a stale file (its process is gone) is replaced."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.pid: int | None = None

    def acquire(self) -> None:
        """Write our pid, or raise ``PidfileError`` if a live process already holds the file (or the
        path cannot hold one: a directory that cannot be made or written, a file in the way)."""
        try:
            self._acquire()
        except PidfileError:
            raise
        except OSError as exc:
            raise PidfileError(f"dj_queue: cannot write the supervisor_pidfile {str(self.path)!r}: "
                               f"{exc.strerror or exc}") from None

    def _acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder != os.getpid() and _alive(holder):
                    raise PidfileError(
                        f"dj_queue: a supervisor (pid {holder}) is already running; pidfile {self.path}"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.pid = os.getpid()
            return
        raise PidfileError(f"dj_queue: could not take pidfile {self.path}")

    def release(self) -> None:
        """Remove the file if it is still ours (never from a forked child)."""
        if self.pid is None or self.pid != os.getpid():
            return
        if self._holder() == self.pid:
            self.path.unlink(missing_ok=True)
        self.pid = None

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None
