"""Async mode: every actor runs as a thread of the supervisor's process.

Used by ``--mode async`` and by embedded supervisors (ASGI, Gunicorn), which pass
``install_signals=False`` and call ``stop()`` themselves. An enqueue in this process wakes the
workers at once through the in-process waker.
"""

from __future__ import annotations

import logging
import threading
import time

from dj_queue.models import Process
from dj_queue.operations import recovery
from dj_queue.runtime.base import Actor
from dj_queue.runtime.supervisor import Slot, Supervisor

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
            reason = f"crashed: {thread.error!r}" if thread.error else "stopped unexpectedly"
            self._recover(thread.actor, reason)
            self.schedule_restart(slot, reason)
        self.restart_due()

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
