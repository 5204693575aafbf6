"""What all actors share: registration, heartbeats, hooks and error reporting."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue import hookimpl, plugins
from dj_queue.models import Process
from dj_queue.runtime import base
from dj_queue.runtime.base import error_reporter
from dj_queue.runtime.dispatcher import Dispatcher
from dj_queue.types import ProcessInfo
from tests.conftest import wait_until
from tests.runtime.helpers import ERRORS, Running, options


def _dispatcher(**overrides) -> Dispatcher:
    return Dispatcher(backend_alias="default", options=options(**overrides), polling_interval=0.05)


def test_error_reporter_logs_and_calls_on_thread_error(caplog):
    ERRORS.clear()
    report = error_reporter(options())
    with caplog.at_level(logging.ERROR, logger="dj_queue"):
        report(RuntimeError("infra"))
    assert [str(e) for e in ERRORS] == ["infra"]
    assert "infra" in caplog.text


def test_a_repeated_error_is_logged_once_per_interval_but_always_handed_on(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: clock[0])
    ERRORS.clear()
    report = error_reporter(options())
    with caplog.at_level(logging.ERROR, logger="dj_queue"):
        for _ in range(5):  # the database is down: every poll fails the same way
            report(ConnectionError("server closed the connection"))
            clock[0] += 1
        report(ValueError("something else"))  # a different error is logged at once
        clock[0] += base.REPEAT_LOG_INTERVAL
        report(ValueError("something else"))
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        "dj_queue: runtime error: ConnectionError('server closed the connection')",
        "dj_queue: runtime error: ValueError('something else')",
        "dj_queue: runtime error: ValueError('something else')",
    ]
    assert len(ERRORS) == 7
    caplog.clear()
    limiter = base.RepeatLimiter(interval=10)
    assert limiter.admit(OSError("down")) == 0
    assert [limiter.admit(OSError("down")) for _ in range(3)] == [None, None, None]
    clock[0] += 10
    assert limiter.admit(OSError("down")) == 3  # logged again, with the count it skipped


def test_a_failing_on_thread_error_is_logged_not_raised(caplog):
    report = error_reporter(options(on_thread_error="tests.runtime.test_base.explode"))
    with caplog.at_level(logging.ERROR, logger="dj_queue"):
        report(RuntimeError("infra"))
    assert "itself failed" in caplog.text


def explode(exc):
    raise ValueError("handler broke")


@pytest.mark.django_db(transaction=True)
def test_heartbeats_refresh_the_row_and_a_pruned_actor_stops_itself():
    actor = _dispatcher()
    running = Running(actor)
    try:
        wait_until(lambda: actor.process_id and Process.objects.filter(pk=actor.process_id).exists(),
                   timeout=10, message="registered")
        old = timezone.now() - timedelta(hours=1)
        Process.objects.filter(pk=actor.process_id).update(last_heartbeat_at=old)
        wait_until(lambda: Process.objects.get(pk=actor.process_id).last_heartbeat_at > old, timeout=5,
                   message="heartbeat")
        Process.objects.filter(pk=actor.process_id).delete()
        wait_until(lambda: actor.stopping, timeout=5, message="pruned actor stopping")
        running.thread.join(10)
        assert not running.thread.is_alive()
    finally:
        running.stop()


@pytest.mark.django_db(transaction=True)
def test_lifecycle_hooks_fire_in_order_and_a_failing_hook_is_isolated():
    events, ERRORS[:] = [], []

    class Spy:
        @hookimpl
        def dj_queue_dispatcher_start(self, process):
            assert isinstance(process, ProcessInfo)  # a frozen view, never the live actor
            events.append(("start", process.kind, process.process_id is not None, process.backend_alias))
            raise RuntimeError("hook broke")

        @hookimpl
        def dj_queue_dispatcher_stop(self, process):
            events.append(("stop", process.kind))

        @hookimpl
        def dj_queue_dispatcher_exit(self, process):
            events.append(("exit", process.kind))

    spy = Spy()
    plugins.register(spy)
    try:
        actor = _dispatcher()
        running = Running(actor)
        wait_until(lambda: events, timeout=10, message="start hook")
        running.stop()
    finally:
        plugins.get_plugin_manager().unregister(spy)
    assert events == [("start", "dispatcher", True, "default"), ("stop", "dispatcher"), ("exit", "dispatcher")]
    assert any(str(e) == "hook broke" for e in ERRORS)
