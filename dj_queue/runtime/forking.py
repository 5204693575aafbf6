"""Fork mode: one child process per actor, forked from a single-threaded supervisor.

Database connections are closed before each fork so no socket (or SQLite handle) is shared;
the child opens its own lazily. A child that exits unexpectedly has its claimed jobs rescued
(``ProcessExitError``) and is restarted: at once when it had been running fine or was killed
from outside, with backoff when it keeps dying at start-up.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import NoReturn

from django.db import connections

from dj_queue.models import Process
from dj_queue.operations import processes, recovery
from dj_queue.runtime import proctitle, signals
from dj_queue.runtime.supervisor import Slot, Supervisor

logger = logging.getLogger("dj_queue.runtime")

_CHILD_SIGNALS = signals.STOP_SIGNALS + signals.QUIT_SIGNALS
# A worker that stopped itself to be replaced (a job's thread ignored its deadline, or a
# max_jobs_per_process / max_memory_mb limit was reached).
RECYCLE_EXIT_CODE = 75


class ForkSupervisor(Supervisor):
    mode = "fork"

    def handled_signals(self) -> tuple[int, ...]:
        return super().handled_signals() + (signal.SIGCHLD,)

    def start_slot(self, slot: Slot) -> None:
        connections.close_all()
        # Blocked across fork so a signal cannot reach the child before it installs its handlers.
        previous = signals.block(_CHILD_SIGNALS + (signal.SIGCHLD,))
        try:
            pid = os.fork()
            if pid == 0:
                self._child_main(slot)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        slot.handle = pid
        slot.started_at = time.monotonic()

    def check_slots(self) -> None:
        for slot, status in self._reap():
            reason = _describe(status)
            registered = self._recover(slot.handle, reason)
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == RECYCLE_EXIT_CODE:
                slot.handle, slot.restart_at = None, time.monotonic()
                logger.warning("dj_queue: %s #%d replaced (it asked to be recycled; its log says why)",
                               slot.spec.kind, slot.spec.index)
            else:
                self.schedule_restart(slot, reason, ran_fine=registered or os.WIFSIGNALED(status))
        self.restart_due()

    def _reap(self) -> list[tuple[Slot, int]]:
        exited = []
        for slot in self.slots:
            if slot.handle is None:
                continue
            try:
                pid, status = os.waitpid(slot.handle, os.WNOHANG)
            except ChildProcessError:
                pid, status = slot.handle, 0
            if pid:
                exited.append((slot, status))
        return exited

    def _child_row(self, pid: int) -> Process | None:
        return (Process.objects.using(self.using)
                .filter(backend_alias=self.backend_alias, hostname=self.hostname, pid=pid).first())

    def _recover(self, pid: int, reason: str) -> bool:
        """Rescue the dead child's jobs; True when it had registered (it got past start-up)."""
        try:
            process = self._child_row(pid)
            if process is not None:
                recovery.process_exited(process, using=self.using, reason=reason)
            return process is not None
        except Exception as exc:
            self.on_error(exc)
            return False

    def stop_actors(self, timeout: float) -> None:
        live = [slot for slot in self.slots if slot.handle is not None]
        for slot in live:
            _kill(slot.handle, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while live and time.monotonic() < deadline:
            done = {id(slot) for slot, _ in self._reap()}
            live = [slot for slot in live if id(slot) not in done]
            if live:
                for message in self.mailbox.wait(0.1):
                    if message in signals.QUIT_SIGNALS:
                        self.quit_now()
        for slot in live:
            self._kill_straggler(slot.handle)

    def _kill_straggler(self, pid: int) -> None:
        logger.error("dj_queue: child %d did not stop in time; killing it", pid)
        _kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        try:
            process = self._child_row(pid)
            if process is not None:  # shutting down: its jobs go back to ready, not failed
                processes.deregister(process.pk, using=self.using)
        except Exception as exc:
            self.on_error(exc)

    def quit_now(self) -> NoReturn:
        for slot in self.slots:
            if slot.handle is not None:
                _kill(slot.handle, signal.SIGQUIT)
        super().quit_now()

    # --- in the child --------------------------------------------------------------------------

    def _child_main(self, slot: Slot) -> NoReturn:
        code = 1
        try:
            code = self._child_run(slot)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _child_run(self, slot: Slot) -> int:
        parent = os.getppid()
        self.mailbox.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        mailbox = signals.Mailbox()
        signals.install(mailbox, _CHILD_SIGNALS)
        signals.unblock(_CHILD_SIGNALS + (signal.SIGCHLD,))
        proctitle.set_title(proctitle.actor_title(slot, self.slots))
        actor = self.build_actor(slot)
        failure: list[BaseException] = []
        thread = threading.Thread(target=_run_actor, args=(actor, failure), name=f"dj_queue-{actor.kind}")
        thread.start()
        while thread.is_alive():
            for message in mailbox.wait(0.5):
                if message in signals.QUIT_SIGNALS:
                    os._exit(128 + 3)
                actor.stop()
            if os.getppid() != parent:  # orphaned: the supervisor died
                actor.stop()
        if failure:
            return 1
        return RECYCLE_EXIT_CODE if getattr(actor, "recycle_requested", False) else 0


def _run_actor(actor, failure: list) -> None:
    try:
        actor.run()
    except BaseException as exc:
        failure.append(exc)
        actor.on_error(exc)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signals.name(os.WTERMSIG(status))}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
