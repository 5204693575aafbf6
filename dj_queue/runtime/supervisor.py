"""The supervisor: registers itself, starts the actors of one backend and keeps them running.

Two modes share this base: ``ForkSupervisor`` (one child process per actor) and
``AsyncSupervisor`` (actors as threads of this process). The main loop waits on a ``Mailbox``
(signals and ``stop()`` post to it), restarts crashed actors with backoff, heartbeats and runs
recovery maintenance every ``process_heartbeat_interval``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from dj_queue.operations import recovery
from dj_queue.runtime import proctitle, signals
from dj_queue.runtime.base import Actor, RuntimeProcess, close_connections
from dj_queue.runtime.dispatcher import Dispatcher
from dj_queue.runtime.pidfile import Pidfile
from dj_queue.runtime.scheduler import Scheduler
from dj_queue.runtime.worker import Worker

logger = logging.getLogger("dj_queue.runtime")

# Time children get on top of ``shutdown_timeout`` to release their jobs and deregister.
SHUTDOWN_GRACE = 5.0
BACKOFF_START, BACKOFF_MAX, STABLE_AFTER, MIN_UP = 0.5, 30.0, 60.0, 1.0


@dataclass
class ActorSpec:
    """How to build one actor; ``kind`` + ``index`` name its slot."""

    kind: str
    index: int
    factory: Callable[..., Actor]
    settings: dict[str, Any] = field(default_factory=dict)

    def build(self, *, backend_alias: str, options: dict[str, Any], supervisor_id: int | None) -> Actor:
        return self.factory(backend_alias=backend_alias, options=options, supervisor_id=supervisor_id,
                            **self.settings)


def scheduler_class() -> type[Actor] | None:
    """The scheduler actor (a seam: tests put their own in)."""
    return Scheduler


def actor_specs(options: dict[str, Any], *, mode: str, only_work: bool = False, only_dispatch: bool = False,
                skip_recurring: bool = False) -> list[ActorSpec]:
    """The actors a supervisor runs; async mode runs one copy of each worker config."""
    specs: list[ActorSpec] = []
    if not only_dispatch:
        for worker in options["workers"]:
            copies = 1 if mode == "async" else max(1, int(worker["processes"]))
            settings = {k: v for k, v in worker.items() if k != "processes"}
            specs += [ActorSpec("worker", len(specs) + copy, Worker, settings) for copy in range(copies)]
    if not only_work:
        for dispatcher in options["dispatchers"]:
            specs.append(ActorSpec("dispatcher", len(specs), Dispatcher, dict(dispatcher)))
    scheduler = scheduler_class()
    if scheduler is not None and not (only_work or only_dispatch or skip_recurring):
        wanted = getattr(scheduler, "wanted", None)
        if wanted is None or wanted(options):
            specs.append(ActorSpec("scheduler", len(specs), scheduler, dict(options["scheduler"])))
    return specs


class Backoff:
    """Restart delays for children that keep dying at start-up: 0.5 s doubling to 30 s.

    A child that had been running fine (up for ``STABLE_AFTER`` seconds, or up for ``MIN_UP`` and
    registered or killed by a signal from outside: OOM killer, an operator) is replaced at once
    and the delays start over.
    """

    def __init__(self) -> None:
        self.failures = 0

    def next_delay(self, ran_for: float, *, ran_fine: bool = False) -> float:
        if ran_for >= STABLE_AFTER or (ran_fine and ran_for >= MIN_UP):
            self.failures = 0
            return 0.0
        self.failures += 1
        return min(BACKOFF_START * 2 ** (self.failures - 1), BACKOFF_MAX)


@dataclass
class Slot:
    """One supervised actor and its restart state."""

    spec: ActorSpec
    backoff: Backoff = field(default_factory=Backoff)
    started_at: float = 0.0
    restart_at: float | None = None
    handle: Any = None  # a pid (fork) or a (thread, actor) pair (async)


class Supervisor(RuntimeProcess):
    """Registers, heartbeats and deregisters as every actor does (``RuntimeProcess``), from its own
    main loop: no heartbeat thread, so fork mode forks a single-threaded process."""

    kind = "supervisor"
    mode = "base"
    stats: Any = None  # a runtime.stats.StatsLogger when ``dj_queue --stats-every`` asks for one
    # No back-off after a failed step: the main loop must keep reading its mailbox (signals); its
    # maintenance comes round once per heartbeat interval anyway.
    error_backoff = 0.0

    def __init__(self, *, options: dict[str, Any], backend_alias: str = "default", only_work: bool = False,
                 only_dispatch: bool = False, skip_recurring: bool | None = None,
                 install_signals: bool = True) -> None:
        super().__init__(backend_alias=backend_alias, options=options)
        self.install_signals = install_signals
        self.mailbox = signals.Mailbox()
        skip = options.get("skip_recurring", False) if skip_recurring is None else skip_recurring
        self.slots = [Slot(spec) for spec in actor_specs(
            options, mode=self.mode, only_work=only_work, only_dispatch=only_dispatch, skip_recurring=skip)]
        path = options.get("supervisor_pidfile")
        self.pidfile = Pidfile(path) if path else None
        self._restore_signals: Callable[[], None] | None = None
        self._next_maintenance = 0.0
        self.stopped = False

    # --- public --------------------------------------------------------------------------------

    def run(self) -> int:
        """Start, supervise until told to stop, then shut down; return an exit code."""
        self.boot()
        try:
            self.supervise()
        finally:
            self.shutdown()
        return 0

    def stop(self) -> None:
        """Ask for a graceful stop (any thread)."""
        self.mailbox.post("stop")

    # --- lifecycle -----------------------------------------------------------------------------

    def boot(self) -> None:
        if self.pidfile is not None:
            self.pidfile.acquire()
        if self.install_signals:
            self._restore_signals = signals.install(self.mailbox, self.handled_signals())
        self.take_name()
        if self.install_signals:  # embedded in a web server (no signals of its own), the title is not ours
            proctitle.set_title(proctitle.supervisor_title(self.backend_alias, self.mode))
        try:
            self.register()
            self.hook("start")
            self.maintain()
            for slot in self.slots:
                self.start_slot(slot)
        except BaseException:
            self.shutdown()  # never leave a row, a pidfile or signal handlers behind
            raise

    def supervise(self) -> None:
        while True:
            for message in self.mailbox.wait(self.tick()):
                if message in signals.QUIT_SIGNALS:
                    self.quit_now()
                if message == "stop" or message in signals.STOP_SIGNALS:
                    logger.info("dj_queue: supervisor stopping (%s)", signals.name(message)
                                if isinstance(message, int) else message)
                    return
            self.check_slots()
            if time.monotonic() >= self._next_maintenance:
                self.maintain()
            if self.stats is not None:
                self.stats.maybe_log()

    def shutdown(self) -> None:
        self.stopped = True
        self.hook("stop")
        try:
            self.stop_actors(float(self.options["shutdown_timeout"]) + SHUTDOWN_GRACE)
        finally:
            self.deregister()
            self.hook("exit")
            if self._restore_signals is not None:
                self._restore_signals()
            if self.pidfile is not None:
                self.pidfile.release()
            self.mailbox.close()
            close_connections()

    def quit_now(self) -> None:
        """SIGQUIT: leave at once; claims left behind are recovered by pruning."""
        if self.pidfile is not None:
            self.pidfile.release()
        os._exit(128 + 3)

    # --- mode specific -------------------------------------------------------------------------

    def handled_signals(self) -> tuple[int, ...]:
        return signals.STOP_SIGNALS + signals.QUIT_SIGNALS

    def tick(self) -> float:
        return 1.0

    def start_slot(self, slot: Slot) -> None:
        raise NotImplementedError

    def check_slots(self) -> None:
        raise NotImplementedError

    def stop_actors(self, timeout: float) -> None:
        raise NotImplementedError

    # --- shared helpers ------------------------------------------------------------------------

    def build_actor(self, slot: Slot) -> Actor:
        return slot.spec.build(backend_alias=self.backend_alias, options=self.options,
                               supervisor_id=self.process_id)

    def schedule_restart(self, slot: Slot, reason: str, *, ran_fine: bool = False) -> None:
        delay = slot.backoff.next_delay(time.monotonic() - slot.started_at, ran_fine=ran_fine)
        slot.restart_at = time.monotonic() + delay
        slot.handle = None
        logger.error("dj_queue: %s #%d %s; restarting in %.1fs", slot.spec.kind, slot.spec.index, reason, delay)

    def restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.handle is None and slot.restart_at is not None and now >= slot.restart_at:
                slot.restart_at = None
                self.start_slot(slot)

    def metadata(self) -> dict[str, Any]:
        return {"mode": self.mode, "actors": [s.spec.kind for s in self.slots]}

    def maintain(self) -> None:
        """Heartbeat, prune expired processes, fail orphaned claims; errors are reported."""
        self._next_maintenance = time.monotonic() + float(self.options["process_heartbeat_interval"])
        alive = self.heartbeat()
        if alive is None:  # the database failed (reported): recovery waits for the next round
            return
        if not alive:
            logger.warning("dj_queue: supervisor %s was pruned; registering again", self.name)
            if self.poller.attempt("registering again", self.register) is None:
                return
        self.poller.attempt("recovering expired processes and orphaned jobs", recovery.maintain,
                            backend_alias=self.backend_alias, using=self.using,
                            threshold=float(self.options["process_alive_threshold"]), exclude_id=self.process_id)
