"""``EmbeddedRuntime``: an async supervisor in a background thread, started and stopped by a host."""

from __future__ import annotations

import signal
import threading

import pytest

from dj_queue.exceptions import ConfigurationError
from dj_queue.models import Process
from dj_queue.runtime.threaded import EmbeddedRuntime
from tests.conftest import wait_until

FAST = {"process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}]}


@pytest.mark.django_db(transaction=True)
def test_start_registers_and_stop_drains_without_touching_signals():
    before = signal.getsignal(signal.SIGTERM)
    runtime = EmbeddedRuntime.from_settings("default", **FAST)
    runtime.start()
    try:
        assert runtime.running
        assert runtime.supervisor.mode == "async" and not runtime.supervisor.install_signals
        assert Process.objects.filter(kind="supervisor").count() == 1
        wait_until(lambda: Process.objects.filter(kind="worker").exists(), message="the worker's row")
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        assert runtime.stop()
    assert not runtime.running
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_boot_error_is_raised_by_start_and_leaves_nothing(monkeypatch):
    from dj_queue.operations import processes

    def refuse(**kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr(processes, "register", refuse)
    before = set(threading.enumerate())
    runtime = EmbeddedRuntime.from_settings("default", **FAST)
    with pytest.raises(RuntimeError, match="database is down"):
        runtime.start()
    wait_until(lambda: not runtime.running, timeout=5, message="the boot thread to end")
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("dj_queue-")]


def test_overrides_are_validated_and_mode_is_always_async():
    with pytest.raises(ConfigurationError, match="did you mean 'shutdown_timeout'"):
        EmbeddedRuntime.from_settings("default", shutdown_timout=3)
    runtime = EmbeddedRuntime.from_settings("default", mode="fork", shutdown_timeout=7, skip_recurring=True)
    assert runtime.supervisor.options["mode"] == "async"
    assert runtime.stop_timeout() > 7
    assert runtime.stop()  # never started: nothing to wait for


def test_unknown_backend_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="no TASKS backend named 'nope'"):
        EmbeddedRuntime.from_settings("nope")
