"""Run dj_queue inside Gunicorn workers. In ``gunicorn.conf.py``::

    from dj_queue_plugins.gunicorn import post_fork, worker_exit

Every server worker then runs an embedded async-mode supervisor in background threads, started
after the fork and drained when the worker exits; Gunicorn owns the signals. For one supervisor
per host instead, set ``DJ_QUEUE_GUNICORN_ONE_PER_HOST=1`` or build the hooks yourself::

    from dj_queue_plugins.gunicorn import hooks
    post_fork, worker_exit = hooks(one_per_host=True, workers=[{"queues": "*", "threads": 5}])

One per host: workers race for an ``fcntl`` lock file (``DJ_QUEUE_GUNICORN_LOCK_FILE``, default
a file in the temp directory named after the backend and its database); the losers retry every
``retry_interval`` seconds, so when the holder exits (reload, ``max_requests``, crash) another
worker takes over.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import tempfile
import threading
from typing import Any, Callable

logger = logging.getLogger("dj_queue.embedded")

ONE_PER_HOST_ENV = "DJ_QUEUE_GUNICORN_ONE_PER_HOST"
LOCK_FILE_ENV = "DJ_QUEUE_GUNICORN_LOCK_FILE"
Hook = Callable[[Any, Any], None]
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class HostLock:
    """An exclusive ``flock`` on a file; the kernel drops it when the holding process dies."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for operators; the lock is the flock itself
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class GunicornEmbedding:
    """The ``post_fork`` / ``worker_exit`` pair for one backend, with its settings.

    Keywords: ``backend_alias``, ``one_per_host`` (default: the environment variable),
    ``lock_file``, ``retry_interval``, ``startup_timeout``, ``config_path``, ``only_work``,
    ``only_dispatch``, ``skip_recurring``; any other keyword overrides the option of that name.
    """

    def __init__(self, *, backend_alias: str = "default", one_per_host: bool | None = None,
                 lock_file: str | None = None, retry_interval: float = 5.0, startup_timeout: float = 30.0,
                 config_path: str | None = None, only_work: bool = False, only_dispatch: bool = False,
                 skip_recurring: bool | None = None, **overrides: Any) -> None:
        self.backend_alias = backend_alias
        self._one_per_host = one_per_host
        self._lock_file = lock_file
        self.retry_interval = retry_interval
        self.startup_timeout = startup_timeout
        self._build_kwargs = dict(config_path=config_path, only_work=only_work, only_dispatch=only_dispatch,
                                  skip_recurring=skip_recurring, **overrides)
        self._reset()
        self._pid: int | None = None  # set in each worker by post_fork; the arbiter has none

    def _reset(self) -> None:
        # Forked workers inherit this object from the arbiter; each starts with fresh state.
        self._pid = os.getpid()
        self.runtime: Any = None
        self.lock: HostLock | None = None
        self._mutex = threading.Lock()
        self._exiting = threading.Event()

    # --- settings ------------------------------------------------------------------------------

    @property
    def one_per_host(self) -> bool:
        if self._one_per_host is not None:
            return self._one_per_host
        return os.environ.get(ONE_PER_HOST_ENV, "").strip().lower() in ("1", "true", "yes", "on")

    def lock_file(self) -> str:
        """The lock file: explicit, from the environment, or named after the backend's database."""
        explicit = self._lock_file or os.environ.get(LOCK_FILE_ENV)
        if explicit:
            return explicit
        from django.db import connections

        from dj_queue.config import database_for

        db = connections[database_for(self.backend_alias)].settings_dict
        identity = "|".join(str(db.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME"))
        digest = hashlib.sha1(f"{self.backend_alias}|{identity}".encode()).hexdigest()[:12]
        return os.path.join(tempfile.gettempdir(), f"dj_queue-{self.backend_alias}-{digest}.lock")

    # --- gunicorn hooks ------------------------------------------------------------------------

    def post_fork(self, server: Any, worker: Any) -> None:
        """Start this worker's embedded supervisor (or wait for the host lock)."""
        # Until the worker installs its own handlers (after this hook returns), a stop signal would
        # hit the arbiter's copied ones and be lost, leaving the worker to run until killed: catch
        # it and do what the worker's own handler does, which exits once booted. These handlers
        # stay until the worker replaces them: a SIGTERM in between was seen lost under load.
        caught: list[int] = []

        def stop(num: int, _frame: Any) -> None:
            caught.append(num)
            worker.alive = False

        for num in _STOP_SIGNALS:
            signal.signal(num, stop)
        self._post_fork(server)
        if caught:
            _log(server).info("dj_queue: worker %s was told to stop while starting", self._pid)

    def _post_fork(self, server: Any) -> None:
        self._reset()
        _setup_django()
        if self.one_per_host:
            self.lock = HostLock(self.lock_file())
            if not self.lock.try_acquire():
                _log(server).info("dj_queue: worker %s waits; another worker on this host holds %s",
                                  self._pid, self.lock.path)
                threading.Thread(target=self._retry, args=(server,), name="dj_queue-host-lock",
                                 daemon=True).start()
                return
        try:
            self._start(server)
        except Exception as exc:
            self._release_lock()
            raise RuntimeError(f"dj_queue: the embedded supervisor could not start in gunicorn worker "
                               f"{self._pid}: {type(exc).__name__}: {exc}") from exc

    def worker_exit(self, server: Any, worker: Any) -> None:
        """Drain this worker's supervisor; a no-op in the arbiter and in workers without one."""
        if self._pid != os.getpid():
            return
        self._exiting.set()
        with self._mutex:
            runtime, self.runtime = self.runtime, None
        if runtime is not None:
            if runtime.stop():
                _log(server).info("dj_queue: embedded supervisor of worker %s stopped", self._pid)
            else:
                _log(server).error("dj_queue: embedded supervisor of worker %s did not stop within %.0fs",
                                   self._pid, runtime.stop_timeout())
        self._release_lock()

    # --- internals -----------------------------------------------------------------------------

    def _start(self, server: Any) -> None:
        from dj_queue.runtime.threaded import EmbeddedRuntime

        with self._mutex:
            if self._exiting.is_set():
                return
            runtime = EmbeddedRuntime.from_settings(self.backend_alias, **self._build_kwargs)
            runtime.start(self.startup_timeout)
            self.runtime = runtime
        _log(server).info("dj_queue: embedded supervisor started in worker %s (%s)", self._pid,
                          runtime.supervisor.name)

    def _retry(self, server: Any) -> None:
        """Take the host lock when its holder goes away, then start the supervisor here."""
        assert self.lock is not None
        while not self._exiting.wait(self.retry_interval):
            if not self.lock.try_acquire():
                continue
            try:
                self._start(server)
                return
            except Exception as exc:  # e.g. the database is down: give the lock back, try later
                _log(server).error("dj_queue: the embedded supervisor could not start: %s", exc)
                self.lock.release()

    def _release_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()


def _setup_django() -> None:
    """``post_fork`` runs before Gunicorn loads the app, so Django may not be set up yet."""
    from django.apps import apps

    if not apps.ready:
        import django

        django.setup(set_prefix=False)


def _log(server: Any) -> Any:
    """Gunicorn's error log when there is one, so these lines sit with the server's own."""
    return getattr(server, "log", None) or logger


def hooks(**kwargs: Any) -> tuple[Hook, Hook]:
    """``post_fork, worker_exit = hooks(...)``: the two hooks with ``GunicornEmbedding`` settings."""
    embedding = GunicornEmbedding(**kwargs)
    return embedding.post_fork, embedding.worker_exit


_default = GunicornEmbedding()


def post_fork(server: Any, worker: Any) -> None:
    """Gunicorn ``post_fork`` hook: start an embedded dj_queue supervisor in this worker."""
    _default.post_fork(server, worker)


def worker_exit(server: Any, worker: Any) -> None:
    """Gunicorn ``worker_exit`` hook: drain this worker's embedded supervisor."""
    _default.worker_exit(server, worker)
