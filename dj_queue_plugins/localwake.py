"""Local wake-ups: a job made ready on this host wakes the idle workers here at once, without NOTIFY.

MariaDB and SQLite have no LISTEN/NOTIFY, so an idle worker would only see a new job at its next
poll. Here each worker binds a Unix datagram socket in a directory shared by every process of this
host (and user) that uses the same database and backend alias; after a commit that made jobs
ready, the producer sends one byte to the socket of each worker serving one of those queues. The
socket's name carries the worker's pid and queue selectors, so a producer picks its targets from
a directory listing alone. Polling stays the correctness path: a lost datagram, a producer on
another host or a full socket buffer costs at most one polling interval.

Receiving: a wrapper around ``dj_queue_waker`` that replaces core's in-process waker (never a
plugin's answer, such as the PostgreSQL ``NotifyWaker``) with a ``LocalWaker`` when the
``local_wakeup`` option is on. Sending: ``dj_queue_jobs_enqueued``, called after commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import select
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote, unquote

from django.db import connections

from dj_queue import hookimpl
from dj_queue.wakeup import InProcessWaker, backend_alias_of, matches

logger = logging.getLogger("dj_queue.localwake")

# sun_path holds 104 bytes on macOS and the BSDs (108 on Linux), the final NUL included.
PATH_LIMIT = 103
ANY = "*"
PING = b"\x01"
# Socket directories by database identity and backend alias (hashing costs more than a lookup).
_directories: dict[tuple[str, ...], Path] = {}


def available() -> bool:
    """True on platforms with Unix datagram sockets and ``poll`` (not Windows)."""
    return hasattr(socket, "AF_UNIX") and hasattr(select, "poll") and hasattr(os, "getuid")


def root_directory() -> Path:
    """The per-user directory under the temporary directory (``TMPDIR``) that holds every socket.

    Deliberately not ``XDG_RUNTIME_DIR``: a web server started by a service manager and a worker
    started from a login shell often disagree about it, and then never reach each other.
    """
    return Path(tempfile.gettempdir()) / f"dj_queue-{os.getuid()}"


def socket_directory(backend_alias: str, using: str) -> Path:
    """The socket directory of one backend alias on one database, as named by Django's settings.

    Two projects on one host never share it: the name hashes the database's vendor, name, host
    and port together with the backend alias.
    """
    connection = connections[using]
    params = connection.settings_dict
    # Read per call, not cached per alias: test runners rename the database after start-up.
    identity = (connection.vendor, str(params.get("NAME") or ""), str(params.get("HOST") or ""),
                str(params.get("PORT") or ""), backend_alias)
    directory = _directories.get(identity)
    if directory is None:
        directory = _directories[identity] = _directory_for(*identity)
    return directory


def _directory_for(vendor: str, name: str, host: str, port: str, backend_alias: str) -> Path:
    if vendor == "sqlite" and name and not name.startswith("file:") and name != ":memory:":
        name = os.path.abspath(name)  # producers and workers may run from different directories
    identity = json.dumps([vendor, name, host, port, backend_alias])
    return root_directory() / hashlib.sha256(identity.encode()).hexdigest()[:16]


def private_directory(path: Path) -> bool:
    """Create ``path`` (mode 0700) if needed; True when it is a directory only this user can use.

    A directory another user planted (or made group/world accessible) is refused: wake-ups would
    then leak to, or come from, someone else.
    """
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def socket_name(pid: int, token: str, selectors: Iterable[str] | None) -> str:
    """``<pid>.<token>.<selectors>``: selectors percent-encoded and comma-joined, ``*`` for any queue."""
    selectors = list(selectors or ())
    if not selectors or ANY in selectors:
        return f"{pid}.{token}.{ANY}"
    return f"{pid}.{token}." + ",".join(quote(selector, safe="*") for selector in selectors)


def parse_name(name: str) -> tuple[int, list[str] | None] | None:
    """The pid and selectors (None: any queue) a socket name carries; None for a foreign name."""
    parts = name.split(".", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2]:
        return None
    if parts[2] == ANY:
        return int(parts[0]), None
    return int(parts[0]), [unquote(selector) for selector in parts[2].split(",")]


class LocalWaker(InProcessWaker):
    """Core's in-process waker whose wait also ends on a datagram to the worker's own socket.

    ``notify()`` sends to that same socket, so ``wait()`` watches a single file descriptor.
    """

    def __init__(self, backend_alias: str, directory: Path, selectors: Iterable[str] | None = None) -> None:
        self.directory = Path(directory)
        self._owner = os.getpid()
        self._token = secrets.token_hex(4)
        self._sock: socket.socket | None = None
        self.path = self._path_for(selectors)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        poke = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(os.fspath(self.path))
            sock.setblocking(False)
            poke.connect(os.fspath(self.path))
            poke.setblocking(False)
        except OSError:
            sock.close()
            poke.close()
            _unlink(self.path)  # bound but unusable: leave no stale name behind
            raise
        self._sock, self._poke = sock, poke
        self._poller = select.poll()
        self._poller.register(sock.fileno(), select.POLLIN)
        super().__init__(backend_alias, selectors)

    @property
    def selectors(self) -> list[str] | None:
        return self._selectors

    @selectors.setter
    def selectors(self, value: Iterable[str] | None) -> None:
        self._selectors = list(value) if value else None
        if self._sock is None:
            return
        path = self._path_for(self._selectors)
        if path != self.path:
            try:
                # A bound socket keeps working under its new name; producers read targets from names.
                os.rename(self.path, path)
                self.path = path
            except OSError:
                logger.warning("dj_queue: could not rename wake-up socket %s; it keeps its old queues", self.path)

    def wait(self, timeout: float | None) -> bool:
        if self._sock is None:
            return super().wait(timeout)
        millis = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
        woken = bool(self._poller.poll(millis))
        if woken:
            self._drain()
        return woken

    def notify(self) -> None:
        if self._sock is None:
            super().notify()
            return
        try:
            self._poke.send(PING)
        except OSError:
            pass  # the queue is full, so a wake-up is pending anyway

    def close(self) -> None:
        super().close()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        # A forked child holds a copy of its parent's waker: only the owner removes the socket.
        if os.getpid() == self._owner:
            _unlink(self.path)
        self._poller.unregister(sock.fileno())
        sock.close()
        self._poke.close()

    def _drain(self) -> None:
        """Consume every pending datagram: one turn of the worker answers them all."""
        while True:
            try:
                self._sock.recv(16)
            except OSError:
                return

    def _path_for(self, selectors: Iterable[str] | None) -> Path:
        path = self.directory / socket_name(self._owner, self._token, selectors)
        if len(os.fsencode(path)) > PATH_LIMIT:
            # Too many selectors to spell out: woken for every queue, which only costs a turn.
            path = self.directory / socket_name(self._owner, self._token, None)
        if len(os.fsencode(path)) > PATH_LIMIT:
            raise OSError(f"dj_queue: wake-up socket path is too long: {path}")
        return path


def send_wakeups(directory: Path, queue_names: Iterable[str], *, skip_pid: int | None = None) -> int:
    """Send one datagram to each socket in ``directory`` serving one of ``queue_names``.

    No names means any queue. Sockets of ``skip_pid`` are left out (the in-process waker already
    woke them); sockets whose owner is gone are removed. Never blocks. Returns how many were sent.
    """
    try:
        entries = os.listdir(directory)
    except OSError:
        return 0
    names = set(queue_names)
    targets = []
    for entry in entries:
        parsed = parse_name(entry)
        if parsed is None or parsed[0] == skip_pid:
            continue
        if not names or any(matches(parsed[1], name) for name in names):
            targets.append(os.path.join(directory, entry))
    if not targets:
        return 0
    # A fresh socket per call: datagrams a stuck worker never reads stay charged to the sender's
    # buffer, and a long-lived sender would then fail to wake every other worker.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        return sum(_send(sender, target) for target in targets)


def _send(sender: socket.socket, target: str) -> int:
    try:
        sender.sendto(PING, target)
        return 1
    except ConnectionRefusedError:
        _unlink(target)  # nothing is bound to the name any more: its worker died without removing it
    except OSError:
        pass  # gone meanwhile (ENOENT) or its queue is full (EAGAIN, ENOBUFS): a wake-up is pending
    return 0


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone


def _options(backend: Any, alias: str) -> dict[str, Any]:
    options = getattr(backend, "options", None)
    if isinstance(options, dict) and "database_alias" in options:
        return options
    from dj_queue.dialects import backend_option

    return {key: backend_option(alias, key) for key in ("local_wakeup", "database_alias")}


def local_waker(backend: Any, selectors: Iterable[str] | None = None) -> LocalWaker | None:
    """A ``LocalWaker`` for ``backend`` (a backend, a worker or an alias), or None when off or impossible."""
    alias = backend_alias_of(backend)
    options = _options(backend, alias)
    if not options.get("local_wakeup", True) or not available():
        return None
    directory = socket_directory(alias, options["database_alias"])
    if not (private_directory(directory.parent) and private_directory(directory)):
        logger.warning("dj_queue: %s is not a private directory; workers poll only", directory)
        return None
    try:
        return LocalWaker(alias, directory, selectors)
    except OSError as exc:
        logger.warning("dj_queue: no local wake-up socket (%s); workers poll only", exc)
        return None


@hookimpl(wrapper=True)
def dj_queue_waker(backend: Any) -> Any:
    waker = yield
    # Only core's own answer is replaced: a waker some plugin chose (NOTIFY on PostgreSQL) stays.
    if type(waker) is not InProcessWaker:
        return waker
    local = local_waker(backend, waker.selectors)
    if local is None:
        return waker
    waker.close()
    return local


@hookimpl
def dj_queue_jobs_enqueued(backend_alias: str, queue_names: list[str]) -> None:
    from dj_queue.dialects import backend_option

    if not backend_option(backend_alias, "local_wakeup") or not available():
        return
    directory = socket_directory(backend_alias, backend_option(backend_alias, "database_alias"))
    send_wakeups(directory, queue_names, skip_pid=os.getpid())
