"""Async mode: every actor runs as a thread of the supervisor's process.

Used by ``--mode async`` and by embedded supervisors (ASGI, Gunicorn): ``EmbeddedRuntime`` runs
one in a background thread with ``install_signals=False`` and stops it when the host server
stops. An enqueue in this process wakes the workers at once through the in-process waker.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dj_queue import config
from dj_queue.config import load_options
from dj_queue.models import Process
from dj_queue.operations import recovery
from dj_queue.runtime.base import Actor, quiet_queries
from dj_queue.runtime.supervisor import SHUTDOWN_GRACE, Slot, Supervisor

logger = logging.getLogger("dj_queue.runtime")


class _ActorThread(threading.Thread):
    """Runs one actor and remembers how it ended."""

    def __init__(self, actor: Actor, on_error) -> None:
        super().__init__(name=f"dj_queue-{actor.kind}", daemon=True)
        self.actor = actor
        self.error: BaseException | None = None
        self._on_error = on_error

    def run(self) -> None:
        try:
            self.actor.run()
        except BaseException as exc:  # an actor crash must never reach the supervisor
            self.error = exc
            self._on_error(exc)


class AsyncSupervisor(Supervisor):
    mode = "async"

    def tick(self) -> float:
        return 0.5

    @property
    def actors(self) -> list[Actor]:
        return [slot.handle.actor for slot in self.slots if slot.handle is not None]

    def start_slot(self, slot: Slot) -> None:
        thread = _ActorThread(self.build_actor(slot), self.on_error)
        slot.handle = thread
        slot.started_at = time.monotonic()
        thread.start()

    def check_slots(self) -> None:
        for slot in self.slots:
            thread = slot.handle
            if thread is None or thread.is_alive():
                continue
            if thread.error is None and getattr(thread.actor, "recycle_requested", False):
                self._replace(slot, thread)
                continue
            reason = f"crashed: {thread.error!r}" if thread.error else "stopped unexpectedly"
            self._recover(thread.actor, reason)
            self.schedule_restart(slot, reason, ran_fine=thread.actor.process_id is not None)
        self.restart_due()

    def _replace(self, slot: Slot, thread: _ActorThread) -> None:
        """A worker that stopped to be recycled: not a crash, so a fresh one starts at once."""
        self._recover(thread.actor, "stopped to be recycled")  # nothing left to rescue, normally
        slot.handle, slot.restart_at = None, time.monotonic()
        logger.info("dj_queue: %s #%d recycled; starting a fresh one", slot.spec.kind, slot.spec.index)

    def _recover(self, actor: Actor, reason: str) -> None:
        if actor.process_id is None:
            return
        try:
            process = Process.objects.using(self.using).filter(pk=actor.process_id).first()
            if process is not None:
                recovery.process_exited(process, using=self.using, reason=reason)
        except Exception as exc:
            self.on_error(exc)

    def stop_actors(self, timeout: float) -> None:
        threads = [slot.handle for slot in self.slots if slot.handle is not None]
        for thread in threads:
            thread.actor.stop()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.error("dj_queue: %r did not stop within %.1fs", thread.actor, timeout)


class EmbeddedRuntime:
    """An ``AsyncSupervisor`` in a background thread of a host server (ASGI, Gunicorn).

    No signal handlers: the host owns signals and calls ``stop()``. ``start()`` returns once the
    supervisor registered and started its actors, or raises what stopped it from booting.
    """

    def __init__(self, options: dict, *, backend_alias: str = "default", only_work: bool = False,
                 only_dispatch: bool = False) -> None:
        self.supervisor = AsyncSupervisor(options={**options, "mode": "async"}, backend_alias=backend_alias,
                                          only_work=only_work, only_dispatch=only_dispatch, install_signals=False)
        self.error: BaseException | None = None
        self.activates = False
        self._booted = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, backend_alias: str = "default", *, config_path: str | None = None,
                      only_work: bool = False, only_dispatch: bool = False, skip_recurring: bool | None = None,
                      **overrides: Any) -> EmbeddedRuntime:
        """Build from ``TASKS[backend_alias]`` (+ a YAML file), with ``overrides`` of option keys on top."""
        options = load_options(backend_alias, config_path=config_path, mode="async", skip_recurring=skip_recurring)
        if overrides:
            flag = options.pop("skip_recurring")
            options = config.validate({**options, **overrides}, where="embedded runtime options")
            options["skip_recurring"] = flag
        runtime = cls(options, backend_alias=backend_alias, only_work=only_work, only_dispatch=only_dispatch)
        # Options looked up by alias elsewhere (use_skip_locked, preserve_finished_jobs, ...) follow
        # the YAML layer too while this runtime runs (between start() and stop()).
        runtime.activates = True
        return runtime

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop_timeout(self) -> float:
        """How long a graceful stop may take: the drain, the children's grace, then a margin."""
        return float(self.supervisor.options["shutdown_timeout"]) + SHUTDOWN_GRACE + 5.0

    def start(self, timeout: float = 30.0) -> None:
        """Boot the supervisor in a daemon thread; raise its boot error, or ``TimeoutError``."""
        self._activate(True)
        self._thread = threading.Thread(target=self._main, name="dj_queue-embedded", daemon=True)
        self._thread.start()
        if not self._booted.wait(timeout):
            self.supervisor.stop()
            self._activate(False)
            raise TimeoutError(f"dj_queue: the embedded supervisor did not start within {timeout:.0f}s")
        if self.error is not None:
            self._activate(False)
            raise self.error

    def _activate(self, on: bool) -> None:
        if self.activates:
            config.activate(self.supervisor.backend_alias, self.supervisor.options if on else None)

    def stop(self, timeout: float | None = None) -> bool:
        """Drain and wait (bounded); True when the supervisor finished its shutdown in time."""
        if self._thread is None:
            return True
        self.supervisor.stop()
        self._thread.join(self.stop_timeout() if timeout is None else timeout)
        self._activate(False)
        return not self._thread.is_alive()

    def _main(self) -> None:
        with quiet_queries(self.supervisor.options.get("silence_polling", True)):
            self._run_supervisor()

    def _run_supervisor(self) -> None:
        try:
            self.supervisor.boot()
        except BaseException as exc:  # boot() already cleaned up; start() re-raises it
            self.error = exc
            return
        finally:
            self._booted.set()
        try:
            self.supervisor.supervise()
        finally:
            self.supervisor.shutdown()
