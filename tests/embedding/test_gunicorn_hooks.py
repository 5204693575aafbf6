"""The Gunicorn hooks called in-process with stand-ins for Gunicorn's server and worker."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from dj_queue.models import Process
from dj_queue_plugins.gunicorn import _STOP_SIGNALS, GunicornEmbedding, HostLock, hooks
from tests.conftest import wait_until

FAST = {"process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}]}


class FakeServer:
    log = logging.getLogger("tests.gunicorn")


class FakeWorker:
    alive = True


@pytest.fixture(autouse=True)
def arbiter_handlers():
    """Stand-ins for the stop handlers a forked worker inherits from Gunicorn's arbiter (a signal
    they get is lost to the worker); this process's own handlers come back after each test, as
    ``post_fork`` leaves its handlers for the worker to replace."""
    seen: list[int] = []
    previous = {num: signal.signal(num, lambda num, _frame: seen.append(num)) for num in _STOP_SIGNALS}
    yield seen
    for num, handler in previous.items():
        signal.signal(num, handler)


def test_host_lock_is_exclusive_until_released(tmp_path):
    first, second = HostLock(tmp_path / "x.lock"), HostLock(tmp_path / "x.lock")
    assert first.try_acquire()
    assert not second.try_acquire()  # flock conflicts across open files, even in one process
    assert (tmp_path / "x.lock").read_text() == f"{os.getpid()}\n"
    first.release()
    assert second.try_acquire()
    second.release()


def test_one_per_host_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_GUNICORN_ONE_PER_HOST", "yes")
    assert GunicornEmbedding().one_per_host
    monkeypatch.setenv("DJ_QUEUE_GUNICORN_ONE_PER_HOST", "0")
    assert not GunicornEmbedding().one_per_host
    assert GunicornEmbedding(one_per_host=True).one_per_host


def test_default_lock_file_is_named_after_backend_and_database(monkeypatch, tmp_path):
    monkeypatch.delenv("DJ_QUEUE_GUNICORN_LOCK_FILE", raising=False)
    path = GunicornEmbedding().lock_file()
    assert os.path.basename(path).startswith("dj_queue-default-") and path.endswith(".lock")
    assert GunicornEmbedding().lock_file() == path  # stable, so every worker picks the same file
    monkeypatch.setenv("DJ_QUEUE_GUNICORN_LOCK_FILE", str(tmp_path / "env.lock"))
    assert GunicornEmbedding().lock_file() == str(tmp_path / "env.lock")
    assert GunicornEmbedding(lock_file="/x.lock").lock_file() == "/x.lock"


def test_worker_exit_in_the_arbiter_is_a_no_op():
    embedding = GunicornEmbedding()
    embedding.worker_exit(FakeServer(), object())  # no post_fork ran in this process
    assert embedding.runtime is None


@pytest.mark.django_db(transaction=True)
def test_post_fork_starts_and_worker_exit_drains():
    post_fork, worker_exit = hooks(**FAST)
    post_fork(FakeServer(), object())
    try:
        assert Process.objects.filter(kind="supervisor", pid=os.getpid()).count() == 1
    finally:
        worker_exit(FakeServer(), object())
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_configuration_fails_the_worker_boot_clearly():
    post_fork, _ = hooks(shutdown_timeout="soon")
    with pytest.raises(RuntimeError, match="could not start in gunicorn worker .*shutdown_timeout"):
        post_fork(FakeServer(), object())
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_one_per_host_hands_over_when_the_holder_exits(tmp_path):
    lock = str(tmp_path / "host.lock")
    holder = GunicornEmbedding(one_per_host=True, lock_file=lock, retry_interval=0.1, **FAST)
    waiter = GunicornEmbedding(one_per_host=True, lock_file=lock, retry_interval=0.1, **FAST)
    holder.post_fork(FakeServer(), object())
    waiter.post_fork(FakeServer(), object())
    try:
        assert holder.runtime is not None and waiter.runtime is None
        assert Process.objects.filter(kind="supervisor").count() == 1
        holder.worker_exit(FakeServer(), object())
        wait_until(lambda: waiter.runtime is not None, message="the waiting worker to take over")
        assert Process.objects.filter(kind="supervisor").count() == 1
    finally:
        holder.worker_exit(FakeServer(), object())
        waiter.worker_exit(FakeServer(), object())
    assert not Process.objects.exists()


def test_contrib_path_re_exports_the_hooks():
    from dj_queue.contrib import gunicorn as contrib
    from dj_queue_plugins import gunicorn

    assert contrib.post_fork is gunicorn.post_fork and contrib.worker_exit is gunicorn.worker_exit


@pytest.mark.django_db(transaction=True)
def test_a_stop_signal_during_post_fork_is_passed_on_to_the_worker(monkeypatch, arbiter_handlers):
    from dj_queue_plugins import gunicorn

    monkeypatch.setattr(gunicorn, "_setup_django", lambda: os.kill(os.getpid(), signal.SIGTERM))
    embedding, worker = GunicornEmbedding(**FAST), FakeWorker()
    embedding.post_fork(FakeServer(), worker)
    try:
        assert worker.alive is False  # the worker leaves its loop at once and drains via worker_exit
        assert arbiter_handlers == []
    finally:
        embedding.worker_exit(FakeServer(), worker)
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_stop_signal_after_post_fork_before_the_workers_own_handlers_is_not_lost(arbiter_handlers):
    embedding, worker = GunicornEmbedding(**FAST), FakeWorker()
    embedding.post_fork(FakeServer(), worker)
    try:
        assert worker.alive is True
        os.kill(os.getpid(), signal.SIGTERM)  # Gunicorn installs the worker's handlers only after the hook
        wait_until(lambda: worker.alive is False, timeout=5, message="the signal to reach the worker")
        assert arbiter_handlers == []
    finally:
        embedding.worker_exit(FakeServer(), worker)
    assert not Process.objects.exists()
