"""The LISTEN/NOTIFY plugin, and the ``dj_queue_jobs_ready`` hook it relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

import dj_queue
from dj_queue import plugins, wakeup
from dj_queue.api import QueueInfo
from dj_queue.compat import task_backends
from dj_queue.models import Job, ScheduledExecution
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.enqueue import JobSpec, enqueue_jobs
from dj_queue.operations.jobs import retry_failed_jobs
from dj_queue_plugins import notify
from dj_queue_plugins.notify import NotifyWaker, channel_name, payload_for, queues_in
from tests.conftest import wait_until
from tests.e2e.conftest import start_runtime  # noqa: F401  (fixture)
from tests.factories import make_job
from tests.tasks_app import tasks

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = pytest.mark.applies(settings.DB == "postgres", reason="LISTEN/NOTIFY is PostgreSQL only")
ADD = "tests.tasks_app.tasks.add"


class Backend:
    """A stand-in for a backend object: just what the waker hook reads."""

    def __init__(self, **options) -> None:
        self.alias = "default"
        self.queues: set[str] = set()
        self.options = {"listen_notify": True, "database_alias": "default", "on_thread_error": None, **options}


class Recorder:
    """A plugin recording ``dj_queue_jobs_ready`` calls and whether they ran inside a transaction."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @dj_queue.hookimpl
    def dj_queue_jobs_ready(self, backend_alias, using, queue_names):
        self.calls.append((backend_alias, using, queue_names, connections[using].in_atomic_block))


@pytest.fixture
def recorder():
    plugin = Recorder()
    plugins.register(plugin, name="test-jobs-ready-recorder")
    yield plugin
    plugins.get_plugin_manager().unregister(plugin)


@pytest.fixture
def notify_plugin():
    pm = plugins.get_plugin_manager()
    registered = pm.is_registered(notify)
    if not registered:
        pm.register(notify, name="dj_queue_plugins.notify")
    yield notify
    if not registered:
        pm.unregister(notify)


@pytest.fixture
def no_in_process_wakeups(monkeypatch):
    """Same-process enqueues must not wake the waker under test: only a NOTIFY may."""
    monkeypatch.setattr(wakeup, "notify_enqueued", lambda *args, **kwargs: 0)


@pytest.fixture
def make_waker():
    made: list[NotifyWaker] = []

    def make(selectors=None, on_error=None) -> NotifyWaker:
        waker = NotifyWaker("default", "default", selectors=selectors, on_error=on_error)
        made.append(waker)
        wait_until(waker.listening.is_set, timeout=10, message="the listener to LISTEN")
        waker.wait(0)  # the wakeup every (re)connection sends
        return waker

    yield make
    for waker in made:
        waker.close()
        assert not waker._thread.is_alive()


def enqueue_elsewhere(queue: str = "default") -> None:
    """Enqueue from another thread, hence another database connection."""
    def run() -> None:
        try:
            tasks.add.using(queue_name=queue).enqueue(1, 2)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()


def woken_within(waker: NotifyWaker, seconds: float) -> bool:
    started = time.monotonic()
    return waker.wait(30) and time.monotonic() - started < seconds


# --- pure helpers ------------------------------------------------------------------------------

def test_channel_names_are_safe_distinct_identifiers():
    assert channel_name("default") == "dj_queue_default"
    names = {channel_name(alias) for alias in ("Default", "default", "de-fault", "de_fault", "x" * 200)}
    assert len(names) == 5
    assert all(len(name) < 64 and name.replace("_", "a").isalnum() and name.islower() for name in names)


def test_payloads_name_the_queues_or_mean_any_queue():
    assert payload_for(["b", "a", "b"]) == "a,b"
    assert queues_in("a,b") == ["a", "b"] and queues_in("") == []
    assert payload_for(["x" * 100] * 1 + [f"q{i}" * 50 for i in range(100)]) == ""  # over 8000 bytes
    assert payload_for(["a,b"]) == ""


def test_the_module_imports_and_stands_aside_without_psycopg():
    code = ("import sys\nsys.modules['psycopg'] = None\nimport django\ndjango.setup()\n"
            "from dj_queue_plugins import notify\nprint(notify.psycopg_ready())\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DJ_QUEUE_TEST_DB": "sqlite"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_listen_notify_false_leaves_the_waker_to_core():
    assert notify.dj_queue_waker(Backend(listen_notify=False)) is None


@pytest.mark.applies(settings.DB != "postgres", reason="the plugin answers on PostgreSQL")
@pytest.mark.django_db
def test_other_databases_get_no_waker_and_send_no_notify(django_assert_num_queries):
    assert notify.dj_queue_waker(Backend()) is None
    assert notify.dj_queue_waker(task_backends["default"]) is None
    with django_assert_num_queries(0):
        notify.dj_queue_jobs_ready(backend_alias="default", using="default", queue_names=["q"])


# --- the hook core calls -----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_ready_jobs_are_announced_inside_their_transaction(recorder):
    tasks.add.using(queue_name="emails").enqueue(1, 2)
    tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)  # not ready yet
    later = timezone.now() + timedelta(hours=1)
    enqueue_jobs([JobSpec(ADD, "b", 0, [], {}), JobSpec(ADD, "a", 0, [], {}), JobSpec(ADD, "c", 0, [], {}, later)],
                 backend_alias="default", using="default")
    assert recorder.calls == [("default", "default", ["emails"], True), ("default", "default", ["a", "b"], True)]


@pytest.mark.django_db(transaction=True)
def test_dispatch_and_retry_announce_too(recorder):
    scheduled = make_job("scheduled", queue="later")
    ScheduledExecution.objects.filter(job=scheduled).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due(backend_alias="default", using="default") == 1
    assert dispatch_due(backend_alias="default", using="default") == 0
    assert recorder.calls == [("default", "default", [], connections["default"].in_atomic_block)]
    recorder.calls.clear()
    failed = make_job("failed", queue="retry")
    assert retry_failed_jobs([failed.pk], using="default") == 1
    assert recorder.calls == [("default", "default", ["retry"], True)]



@pytest.mark.django_db(transaction=True)
def test_resuming_a_paused_queue_announces_it_and_wakes_workers_in_process(recorder, monkeypatch):
    woken = []
    monkeypatch.setattr(wakeup, "notify_enqueued", lambda alias, names: woken.append((alias, set(names))))
    info = QueueInfo("reports")
    info.pause()
    assert info.resume() is True
    assert recorder.calls == [("default", "default", ["reports"], True)]
    assert woken == [("default", {"reports"})]
    assert info.resume() is False  # nothing was paused: nobody is woken
    assert len(recorder.calls) == 1 and len(woken) == 1

# --- PostgreSQL: the sending side --------------------------------------------------------------

def _raw_listener():
    import psycopg

    conn = psycopg.connect(**notify.connection_params("default"), autocommit=True)
    conn.execute('LISTEN "dj_queue_default"')
    return conn


def _payloads(conn, timeout: float = 2.0) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)]


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_notifies_are_sent_at_commit_and_never_on_rollback(notify_plugin):
    listener = _raw_listener()
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            tasks.add.using(queue_name="lost").enqueue(1, 2)
            raise RuntimeError("rollback")
        assert _payloads(listener, timeout=0.3) == []
        tasks.add.using(queue_name="emails").enqueue(1, 2)
        assert _payloads(listener) == ["emails"]
        failed = make_job("failed", queue="retry")
        retry_failed_jobs([failed.pk], using="default")
        assert _payloads(listener) == ["retry"]
        ScheduledExecution.objects.filter(job=make_job("scheduled")).update(scheduled_at=timezone.now())
        dispatch_due(backend_alias="default", using="default")
        assert _payloads(listener) == [""]
    finally:
        listener.close()


# --- PostgreSQL: the waker ---------------------------------------------------------------------

@POSTGRES
def test_the_plugin_answers_with_a_notify_waker_on_postgres():
    waker = notify.dj_queue_waker(task_backends["default"])
    worker = Backend()
    worker.queues, worker.on_error = ["emails"], lambda exc: None  # a worker-like object
    worker_waker = notify.dj_queue_waker(worker)
    try:
        assert isinstance(waker, NotifyWaker) and waker.channel == "dj_queue_default"
        assert worker_waker.selectors == ["emails"] and worker_waker._on_error is worker.on_error
    finally:
        waker.close()
        worker_waker.close()


@POSTGRES
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_an_enqueue_elsewhere_wakes_the_waker_at_once(notify_plugin, no_in_process_wakeups, make_waker):
    waker = make_waker(selectors=["default"])
    enqueue_elsewhere()
    assert woken_within(waker, 1.0)


@POSTGRES
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_queue_the_worker_does_not_serve_does_not_wake_it(notify_plugin, no_in_process_wakeups, make_waker):
    emails, reports = make_waker(selectors=["email*"]), make_waker(selectors=["reports"])
    enqueue_elsewhere("reports")
    assert woken_within(reports, 1.0)  # the notification was delivered...
    assert emails.wait(0.3) is False  # ...and filtered out here
    enqueue_elsewhere("email_bulk")
    assert woken_within(emails, 1.0)


@POSTGRES
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_the_listener_reconnects_after_its_backend_is_terminated(notify_plugin, no_in_process_wakeups,
                                                                  make_waker):
    errors: list[BaseException] = []
    waker = make_waker(selectors=["*"], on_error=errors.append)
    old_pid = waker.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    wait_until(lambda: waker.listening.is_set() and waker.backend_pid != old_pid, timeout=15,
               message="the listener to reconnect")
    assert errors, "the dropped connection was reported"
    assert waker.wait(1) is True  # the wakeup sent after reconnecting
    enqueue_elsewhere()
    assert woken_within(waker, 1.0)


@POSTGRES
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_a_fork_runtime_with_slow_polling_starts_jobs_at_once(start_runtime):  # noqa: F811
    if plugins.get_plugin_manager().get_plugin("dj_queue_plugins.notify") is None:
        pytest.fail("dj_queue_plugins.notify is not an installed entry point (pip install -e .)")
    runtime = start_runtime("fork", {"workers": [{"queues": "*", "threads": 2, "polling_interval": 10}]})
    # Once the first job is recorded finished, the worker is idle in its 10 s wait: only a
    # wakeup can start the second one promptly.
    for _ in range(2):
        result = tasks.add.enqueue(2, 3)
        job = wait_until(lambda: Job.objects.filter(pk=int(result.id), finished_at__isnull=False).first(),
                         timeout=30, message=f"the job to run\n{runtime.log()}")
    assert (job.started_at - job.enqueued_at).total_seconds() < 2
