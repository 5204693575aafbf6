"""Supervisor composition, restart backoff and the async supervisor run in-process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dj_queue import hookimpl, plugins
from dj_queue.models import Job, Process
from dj_queue.runtime import supervisor as supervisor_module
from dj_queue.runtime.dispatcher import Dispatcher
from dj_queue.runtime.forking import ForkSupervisor
from dj_queue.runtime.pidfile import PidfileError
from dj_queue.runtime.modes import build_supervisor
from dj_queue.runtime.supervisor import ActorSpec, Backoff, Slot, actor_specs
from dj_queue.runtime.threaded import AsyncSupervisor
from dj_queue.runtime.worker import Worker
from tests.conftest import wait_until
from tests.runtime.helpers import ERRORS, Running, options
from tests.tasks_app import tasks

WORKERS = [{"queues": "a", "threads": 2, "processes": 2}, {"queues": "b", "processes": 1}]


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch):
    """These tests count actors; the scheduler has its own tests."""
    monkeypatch.setattr(supervisor_module, "scheduler_class", lambda: None)


def _kinds(specs) -> list[str]:
    return [spec.kind for spec in specs]


def test_fork_mode_runs_processes_copies_and_async_mode_one():
    opts = options(workers=WORKERS)
    fork = actor_specs(opts, mode="fork")
    assert _kinds(fork) == ["worker", "worker", "worker", "dispatcher"]
    assert [spec.index for spec in fork] == [0, 1, 2, 3]  # each copy its own slot (logs say "worker #1")
    assert fork[0].settings == {"queues": ["a"], "threads": 2, "polling_interval": 0.1,
                                "max_jobs_per_process": None, "max_memory_mb": None, "rate_limit": None}
    assert _kinds(actor_specs(opts, mode="async")) == ["worker", "worker", "dispatcher"]


def test_only_work_and_only_dispatch():
    opts = options(workers=WORKERS)
    assert _kinds(actor_specs(opts, mode="async", only_work=True)) == ["worker", "worker"]
    assert _kinds(actor_specs(opts, mode="async", only_dispatch=True)) == ["dispatcher"]


def test_a_scheduler_joins_when_the_feature_provides_one(monkeypatch):
    class Scheduler:
        kind = "scheduler"

        @staticmethod
        def wanted(options):
            return options["shutdown_timeout"] != 99

    monkeypatch.setattr(supervisor_module, "scheduler_class", lambda: Scheduler)
    opts = options()
    assert _kinds(actor_specs(opts, mode="fork"))[-1] == "scheduler"
    assert "scheduler" not in _kinds(actor_specs(opts, mode="fork", skip_recurring=True))
    assert "scheduler" not in _kinds(actor_specs(opts, mode="fork", only_work=True))
    assert "scheduler" not in _kinds(actor_specs(options(shutdown_timeout=99), mode="fork"))


def test_backoff_doubles_to_a_cap_and_resets_after_a_stable_run():
    backoff = Backoff()
    delays = [backoff.next_delay(ran_for=1) for _ in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.next_delay(ran_for=120) == 0.0 and backoff.failures == 0
    assert backoff.next_delay(ran_for=0.2) == 0.5


def test_a_child_that_ran_fine_is_replaced_at_once_but_one_dying_at_start_up_backs_off():
    backoff = Backoff()
    assert [backoff.next_delay(ran_for=2.5, ran_fine=True) for _ in range(3)] == [0.0, 0.0, 0.0]
    # Registered (or killed from outside) but gone within a second: treated as a start-up death.
    assert [backoff.next_delay(ran_for=0.3, ran_fine=True) for _ in range(3)] == [0.5, 1, 2]
    assert backoff.next_delay(ran_for=1.5, ran_fine=True) == 0.0 and backoff.failures == 0


def test_build_supervisor_picks_the_mode():
    assert isinstance(build_supervisor(options(mode="async")), AsyncSupervisor)
    assert isinstance(build_supervisor(options(mode="fork")), ForkSupervisor)


@pytest.mark.django_db(transaction=True)
def test_async_supervisor_runs_jobs_fires_hooks_and_cleans_up():
    events = []

    class Spy:
        @hookimpl
        def dj_queue_supervisor_start(self, process):
            events.append(("supervisor", "start"))

        @hookimpl
        def dj_queue_worker_start(self, process):
            events.append(("worker", "start"))

        @hookimpl
        def dj_queue_supervisor_exit(self, process):
            events.append(("supervisor", "exit"))

    spy = Spy()
    plugins.register(spy)
    supervisor = AsyncSupervisor(options=options(mode="async"), install_signals=False)
    running = Running(supervisor)
    try:
        result = tasks.add.enqueue(5, 6)
        wait_until(lambda: Job.objects.get(pk=int(result.id)).finished_at, timeout=15, message="job ran")
        rows = wait_until(lambda: Process.objects.count() == 3 and list(Process.objects.all()), timeout=10)
        top = next(row for row in rows if row.kind == "supervisor")
        assert {row.supervisor_id for row in rows if row.kind != "supervisor"} == {top.pk}
        assert top.metadata["mode"] == "async"
    finally:
        running.stop()
        plugins.get_plugin_manager().unregister(spy)
    assert Job.objects.get(pk=int(result.id)).return_value == 11
    assert events[0] == ("supervisor", "start") and ("worker", "start") in events
    assert events[-1] == ("supervisor", "exit")
    assert not Process.objects.exists()


class CrashingDispatcher(Dispatcher):
    crashes = 0

    def loop(self) -> None:
        if CrashingDispatcher.crashes < 2:
            CrashingDispatcher.crashes += 1
            raise RuntimeError(f"crash {CrashingDispatcher.crashes}")
        super().loop()


@pytest.mark.django_db(transaction=True)
def test_a_crashed_actor_is_reported_and_restarted_with_backoff(monkeypatch):
    monkeypatch.setattr(supervisor_module, "BACKOFF_START", 0.01)
    ERRORS.clear()
    CrashingDispatcher.crashes = 0
    supervisor = AsyncSupervisor(options=options(mode="async"), install_signals=False)
    supervisor.slots = [Slot(ActorSpec("dispatcher", 0, CrashingDispatcher, {"polling_interval": 0.05}))]
    running = Running(supervisor)
    try:
        slot = supervisor.slots[0]
        wait_until(lambda: slot.backoff.failures == 2 and slot.handle is not None
                   and Process.objects.filter(pk=slot.handle.actor.process_id or 0).exists(),
                   timeout=15, message="restarted dispatcher")
        assert [str(e) for e in ERRORS if isinstance(e, RuntimeError)] == ["crash 1", "crash 2"]
        assert supervisor.slots[0].backoff.failures == 2
    finally:
        running.stop()
    assert not Process.objects.exists()


@pytest.mark.django_db
def test_a_held_pidfile_refuses_a_second_supervisor(tmp_path):
    path = tmp_path / "dj_queue.pid"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(str(holder.pid))
        supervisor = AsyncSupervisor(options=options(mode="async", supervisor_pidfile=str(path)),
                                     install_signals=False)
        with pytest.raises(PidfileError):
            supervisor.boot()
        assert not Process.objects.exists()
    finally:
        holder.kill()
        holder.wait()


def test_worker_specs_build_workers():
    spec = actor_specs(options(), mode="async")[0]
    actor = spec.build(backend_alias="default", options=options(), supervisor_id=7)
    assert isinstance(actor, Worker) and actor.supervisor_id == 7 and actor.queues == ["*"]
