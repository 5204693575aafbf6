"""Worker recycling by jobs served and by memory, with the worker run in a thread of the test process."""

from __future__ import annotations

import threading

import pytest

from dj_queue.models import ClaimedExecution, Job, Process, ReadyExecution
from dj_queue.runtime import worker as worker_module
from dj_queue.runtime.threaded import AsyncSupervisor
from dj_queue.runtime.worker import Worker, current_rss_mb
from tests.conftest import wait_until
from tests.runtime.helpers import Running, options
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(threads: int = 1, **limits) -> Worker:
    return Worker(backend_alias="default", options=options(), queues=["*"], threads=threads,
                  polling_interval=0.05, **limits)


def _run_to_recycle(worker: Worker) -> None:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        worker.stop()
        thread.join(10)
        pytest.fail("the worker did not stop to be recycled")


def test_a_worker_claims_at_most_max_jobs_per_process_then_stops_to_be_recycled(caplog):
    caplog.set_level("INFO", logger="dj_queue.runtime")
    for i in range(7):
        tasks.sleep_then_record.enqueue(f"job-{i}", 0.05)
    worker = _worker(threads=2, max_jobs_per_process=3)

    _run_to_recycle(worker)

    assert worker.recycle_requested and worker.jobs_served == 3
    assert Job.objects.filter(finished_at__isnull=False).count() == 3  # finished and recorded
    assert ReadyExecution.objects.count() == 4 and not ClaimedExecution.objects.exists()
    assert not Process.objects.exists()
    assert f"dj_queue: {worker.name} recycling: served 3 job(s) (max_jobs_per_process 3)" in caplog.text


def test_a_worker_over_max_memory_mb_serves_one_claim_then_stops_to_be_recycled(caplog):
    caplog.set_level("INFO", logger="dj_queue.runtime")
    for i in range(4):
        tasks.record.enqueue(f"job-{i}")
    worker = _worker(threads=1, max_memory_mb=1)

    _run_to_recycle(worker)

    assert worker.recycle_requested and worker.jobs_served == 1
    assert SideEffect.objects.count() == 1 and ReadyExecution.objects.count() == 3
    assert "is over max_memory_mb 1" in caplog.text


def test_a_worker_under_its_limits_keeps_working():
    for i in range(5):
        tasks.record.enqueue(f"job-{i}")
    worker = _worker(threads=2, max_jobs_per_process=100, max_memory_mb=1_000_000)
    running = Running(worker)
    try:
        wait_until(lambda: SideEffect.objects.count() == 5, timeout=20, message="5 jobs ran")
        assert not worker.recycle_requested and not worker.stopping
    finally:
        running.stop()


def test_current_rss_is_the_memory_in_use_now_not_the_peak():
    before = current_rss_mb()
    block = bytearray(200 * 1024 * 1024)  # zero-filled: every page is touched
    during = current_rss_mb()
    del block
    after = current_rss_mb()
    assert during - before > 150
    assert during - after > 150  # a peak reading would not come down


def test_rss_falls_back_to_getrusage_without_proc(monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/status")

    monkeypatch.setattr("builtins.open", no_proc)
    assert current_rss_mb() >= 1  # the peak in MiB: a Python process is more than one


def test_the_async_supervisor_restarts_a_recycled_worker_at_once(caplog):
    caplog.set_level("INFO", logger="dj_queue.runtime")
    supervisor = AsyncSupervisor(options=options(workers=[{"queues": "*", "threads": 2, "polling_interval": 0.05,
                                                          "max_jobs_per_process": 2}], dispatchers=[]),
                                 install_signals=False)
    running = Running(supervisor)
    try:
        for i in range(8):
            tasks.record.enqueue(f"job-{i}")
        wait_until(lambda: SideEffect.objects.count() == 8, timeout=30, message="8 jobs ran")
        wait_until(lambda: not ClaimedExecution.objects.exists(), timeout=10, message="outcomes recorded")
    finally:
        running.stop()
    workers = {ids[0] for ids in Job.objects.values_list("worker_ids", flat=True)}
    assert all(len(ids) == 1 for ids in Job.objects.values_list("worker_ids", flat=True))
    assert len(workers) == 4  # two jobs each
    assert caplog.text.count("dj_queue: worker #0 recycled; starting a fresh one") >= 3
    assert "restarting in" not in caplog.text  # not counted as a crash


def test_the_memory_check_is_not_read_on_every_turn(monkeypatch):
    reads = []
    monkeypatch.setattr(worker_module, "current_rss_mb", lambda: reads.append(1) or 10.0)
    worker = _worker(max_memory_mb=100)
    worker.jobs_served = 1
    for _ in range(50):
        assert worker._limit_reached() is None
    assert len(reads) == 1
