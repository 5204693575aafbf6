"""The poller: a failed step is reported, the connection replaced, the loop goes on; waits end on stop."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, OperationalError, connections
from django.utils import timezone

from dj_queue.models import Job, Process, ReadyExecution, ScheduledExecution
from dj_queue.operations import processes
from dj_queue.runtime import dispatcher as dispatcher_module
from dj_queue.runtime.base import close_connections
from dj_queue.runtime.dispatcher import Dispatcher
from dj_queue.runtime.polling import Poller
from dj_queue.runtime.supervisor import Supervisor
from tests.conftest import wait_until
from tests.runtime.helpers import ERRORS, Running, options


def _in_a_thread(target, timeout: float = 30) -> None:
    """Run ``target`` in a thread of its own (its own connections, closed after), re-raising its error."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            target()
        except BaseException as exc:
            failure.append(exc)
        finally:
            close_connections()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the thread did not finish"
    if failure:
        raise failure[0]


def _broken_query() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT * FROM dj_queue_no_such_table")


@pytest.mark.django_db(transaction=True)
def test_a_failed_step_is_reported_its_broken_connection_replaced_and_the_next_step_runs():
    reports, seen = [], {}
    poller = Poller(report=lambda exc, doing: reports.append((exc, doing)), backoff=0)

    def steps() -> None:
        conn = connections["default"]
        seen["first"] = poller.attempt("counting jobs", Job.objects.count)
        raw = conn.connection
        conn.is_usable = lambda: False  # as after a database restart: the server dropped the socket
        seen["broken"] = poller.attempt("reading a lost table", _broken_query)
        seen["closed"] = conn.connection is None
        seen["again"] = poller.attempt("counting jobs", Job.objects.count)
        seen["reconnected"] = conn.connection is not None and conn.connection is not raw

    _in_a_thread(steps)
    assert seen == {"first": 0, "broken": None, "closed": True, "again": 0, "reconnected": True}
    assert [doing for _, doing in reports] == ["reading a lost table"]
    assert isinstance(reports[0][0], DatabaseError)


def test_a_failed_step_backs_off_and_a_stop_cuts_the_back_off_short():
    stopping = threading.Event()
    poller = Poller(report=lambda exc, doing: None, stopping=stopping, backoff=60)
    threading.Timer(0.2, stopping.set).start()
    started = time.monotonic()
    assert poller.attempt("failing", _raise) is None
    assert time.monotonic() - started < 30  # not the minute of back-off


def test_a_wait_ends_on_wake_and_does_not_start_once_stopping():
    stopping = threading.Event()
    poller = Poller(report=lambda exc, doing: None, stopping=stopping)
    threading.Timer(0.2, poller.wake).start()
    started = time.monotonic()
    poller.wait(60)
    assert time.monotonic() - started < 30
    stopping.set()
    started = time.monotonic()
    poller.wait(60)
    assert time.monotonic() - started < 1


def _raise() -> None:
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_reports_what_it_was_doing_and_dispatches_once_the_database_is_back(monkeypatch, caplog):
    job = Job.objects.create(task_path="tests.tasks_app.tasks.noop", scheduled_at=timezone.now() - timedelta(seconds=5))
    ScheduledExecution.objects.create(job=job, queue_name="default", scheduled_at=job.scheduled_at)
    real, calls = dispatcher_module.dispatch_due, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            _raise()
        return real(**kwargs)

    monkeypatch.setattr(dispatcher_module, "dispatch_due", flaky)
    ERRORS.clear()
    dispatcher = Dispatcher(backend_alias="default", options=options(), polling_interval=0.05)
    with caplog.at_level(logging.ERROR, logger="dj_queue.runtime"):
        running = Running(dispatcher)
        try:
            wait_until(lambda: ReadyExecution.objects.filter(job=job).exists(), timeout=15, message="dispatched")
        finally:
            running.stop()
    assert [str(e) for e in ERRORS] == ["server closed the connection unexpectedly"]
    assert f"dj_queue: runtime error ({dispatcher.name}: dispatching due scheduled jobs): OperationalError(" \
        in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_stopped_actor_leaves_its_polling_wait_at_once():
    dispatcher = Dispatcher(backend_alias="default", options=options(), polling_interval=600)
    running = Running(dispatcher)
    wait_until(lambda: Process.objects.filter(kind="dispatcher").exists(), timeout=10, message="registered")
    started = time.monotonic()
    running.stop(timeout=30)
    assert time.monotonic() - started < 20  # not the ten-minute polling interval


@pytest.mark.django_db(transaction=True)
def test_the_supervisor_heartbeats_through_the_shared_code_and_registers_again_when_pruned(monkeypatch):
    supervisor = Supervisor(options=options(), install_signals=False)
    supervisor.take_name()
    first = supervisor.register()
    Process.objects.filter(pk=first).delete()  # pruned by another supervisor
    supervisor.maintain()
    assert supervisor.process_id != first and Process.objects.filter(pk=supervisor.process_id).exists()

    def down(*args, **kwargs):
        raise OperationalError("database is down")

    ERRORS.clear()
    monkeypatch.setattr(processes, "heartbeat", down)
    supervisor.maintain()  # reported, never raised: the main loop goes on
    assert [str(e) for e in ERRORS] == ["database is down"]
    supervisor.deregister()
    assert not Process.objects.exists()
