"""Local wake-ups: Unix datagram sockets wake idle workers on this host, and the hook that sends them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

import dj_queue
from dj_queue import plugins
from dj_queue.models import Job, ScheduledExecution
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.jobs import retry_failed_jobs
from dj_queue.wakeup import InProcessWaker
from dj_queue_plugins import localwake
from dj_queue_plugins.localwake import LocalWaker, parse_name, send_wakeups, socket_directory, socket_name
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT, start_runtime  # noqa: F401  (fixture)
from tests.factories import make_job
from tests.tasks_app import tasks

# The runtimes under test poll every 5 s: a job starting well within that was woken by a datagram.
SLOW_POLL = 5
# Generous against a loaded machine, and still far below the polling interval.
WOKEN_WITHIN = 1.0


class Backend:
    """A stand-in for a worker: just what the waker hook reads."""

    def __init__(self, queues=("*",), **options) -> None:
        self.alias = "default"
        self.queues = list(queues)
        self.on_error = lambda exc: None
        self.options = {"listen_notify": False, "local_wakeup": True, "database_alias": "default",
                        "on_thread_error": None, **options}


class Recorder:
    """A plugin recording ``dj_queue_jobs_enqueued`` calls and whether they ran inside a transaction."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @dj_queue.hookimpl
    def dj_queue_jobs_enqueued(self, backend_alias, queue_names):
        self.calls.append((backend_alias, queue_names, connection.in_atomic_block))


@pytest.fixture
def recorder():
    plugin = Recorder()
    plugins.register(plugin, name="test-jobs-enqueued-recorder")
    yield plugin
    plugins.get_plugin_manager().unregister(plugin)


@pytest.fixture
def directory():
    # Not pytest's tmp_path: a socket path must fit in about 100 bytes.
    path = Path(tempfile.mkdtemp(prefix="djqw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_waker(directory):
    made: list[LocalWaker] = []

    def make(selectors=("*",)) -> LocalWaker:
        waker = LocalWaker("default", directory, selectors)
        made.append(waker)
        return waker

    yield make
    for waker in made:
        waker.close()


def sockets_in(path: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(path) if parse_name(name))
    except FileNotFoundError:
        return []


def woken_within(waker: LocalWaker, seconds: float) -> bool:
    started = time.monotonic()
    return waker.wait(10) and time.monotonic() - started < seconds


# --- names and directories ---------------------------------------------------------------------

def test_socket_names_carry_the_pid_and_the_selectors():
    name = socket_name(42, "ab12", ["email*", "a/b,c", "x.y%"])
    assert name == "42.ab12.email*,a%2Fb%2Cc,x.y%25"
    assert parse_name(name) == (42, ["email*", "a/b,c", "x.y%"])
    assert socket_name(7, "t", ["a", "*"]) == "7.t.*" and parse_name("7.t.*") == (7, None)
    assert socket_name(7, "t", None) == "7.t.*"
    assert [parse_name(n) for n in ("x.t.*", "7.t.", "7.t", "notes.txt")] == [None, None, None, None]


def test_the_directory_is_per_database_and_backend_alias():
    here = socket_directory("default", "default")
    assert here == socket_directory("default", "default")
    assert here.parent == Path(tempfile.gettempdir()) / f"dj_queue-{os.getuid()}"
    assert socket_directory("other", "default") != here
    params = connection.settings_dict
    name = params["NAME"]
    try:
        params["NAME"] = f"{name}_another_project"
        assert socket_directory("default", "default") != here
    finally:
        params["NAME"] = name


def test_only_a_private_directory_is_used(tmp_path):
    assert localwake.private_directory(tmp_path / "new") is True
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert localwake.private_directory(shared) is False
    (tmp_path / "link").symlink_to(tmp_path / "new")
    assert localwake.private_directory(tmp_path / "link") is False


# --- the waker ---------------------------------------------------------------------------------

def test_a_datagram_or_notify_ends_the_wait_and_is_consumed(make_waker, directory):
    waker = make_waker()
    assert waker.wait(0.05) is False
    assert send_wakeups(directory, ["default"]) == 1
    assert woken_within(waker, WOKEN_WITHIN)
    assert waker.wait(0) is False
    for _ in range(3):
        waker.notify()
    assert waker.wait(0) is True and waker.wait(0) is False  # many wakeups, one turn


def test_selectors_filter_which_workers_are_woken(make_waker, directory):
    emails, reports = make_waker(["email*"]), make_waker(["reports"])
    assert send_wakeups(directory, ["email_bulk"]) == 1
    assert emails.wait(0) is True and reports.wait(0) is False
    assert send_wakeups(directory, ["reports", "other"]) == 1
    assert reports.wait(0) is True and emails.wait(0) is False
    assert send_wakeups(directory, []) == 2  # no names: any queue
    assert emails.wait(0) is True and reports.wait(0) is True


def test_changing_selectors_renames_the_socket(make_waker, directory):
    waker = make_waker(["a"])
    waker.selectors = ["b"]
    assert [parse_name(n)[1] for n in sockets_in(directory)] == [["b"]]
    assert send_wakeups(directory, ["a"]) == 0
    assert send_wakeups(directory, ["b"]) == 1 and waker.wait(0) is True


def test_too_many_selectors_to_name_mean_any_queue(make_waker, directory):
    waker = make_waker([f"queue_{i}" for i in range(30)])
    assert [parse_name(n)[1] for n in sockets_in(directory)] == [None]
    assert send_wakeups(directory, ["unrelated"]) == 1 and waker.wait(0) is True


def test_close_removes_the_socket_and_the_own_process_is_skipped(make_waker, directory):
    waker = make_waker()
    assert len(sockets_in(directory)) == 1
    assert send_wakeups(directory, ["q"], skip_pid=os.getpid()) == 0  # in-process wakeups cover it
    waker.close()
    assert sockets_in(directory) == []
    waker.close()  # twice is harmless


def test_stale_sockets_are_removed_and_live_ones_kept(make_waker, directory):
    live = make_waker()
    stale_path = directory / socket_name(999_999, "dead", None)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(os.fspath(stale_path))
    stale.close()  # its owner "died": the name stays, nothing is bound to it
    assert stale_path.exists()
    assert send_wakeups(directory, ["q"]) == 1
    assert not stale_path.exists()
    assert sockets_in(directory) == [live.path.name] and live.wait(0) is True


def test_a_full_socket_never_blocks_the_producer(make_waker, directory):
    waker = make_waker()
    started = time.monotonic()
    sent = sum(send_wakeups(directory, ["q"]) for _ in range(3000))
    assert time.monotonic() - started < 10
    assert 0 < sent < 3000  # the queue filled up and the rest were dropped, not waited for
    assert waker.wait(0) is True and waker.wait(0) is False


# --- the hooks ---------------------------------------------------------------------------------

def test_the_waker_hook_replaces_core_waker_only():
    waker = plugins.get_waker(Backend(queues=["emails"]))
    try:
        assert isinstance(waker, LocalWaker) and waker.selectors == ["emails"]
        assert waker.directory == socket_directory("default", "default")
        assert sockets_in(waker.directory).count(waker.path.name) == 1
    finally:
        waker.close()

    class Custom(InProcessWaker):
        pass

    chosen = Custom("default")

    class Chooser:
        @dj_queue.hookimpl
        def dj_queue_waker(self, backend):
            return chosen

    plugins.register(Chooser(), name="test-waker-chooser")
    try:
        assert plugins.get_waker(Backend()) is chosen  # a plugin's answer (like NOTIFY) stays
    finally:
        plugins.get_plugin_manager().unregister(name="test-waker-chooser")
        chosen.close()


def test_local_wakeup_false_keeps_core_waker_and_sends_nothing(monkeypatch):
    waker = plugins.get_waker(Backend(local_wakeup=False))
    try:
        assert type(waker) is InProcessWaker
    finally:
        waker.close()
    sent = []
    monkeypatch.setattr(localwake, "send_wakeups", lambda *args, **kwargs: sent.append(args))
    options = {**settings.TASKS["default"]["OPTIONS"], "local_wakeup": False}
    with override_settings(TASKS={"default": {**settings.TASKS["default"], "OPTIONS": options}}):
        localwake.dj_queue_jobs_enqueued(backend_alias="default", queue_names=["q"])
    assert sent == []
    localwake.dj_queue_jobs_enqueued(backend_alias="default", queue_names=["q"])
    assert sent == [(socket_directory("default", "default"), ["q"])]


def test_the_plugin_can_be_disabled_by_name(monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", "dj_queue_plugins.localwake")
    plugins.reset_plugin_manager()
    try:
        waker = plugins.get_waker(Backend())
        assert type(waker) is InProcessWaker
        waker.close()
        assert not plugins.get_plugin_manager().hook.dj_queue_jobs_enqueued.get_hookimpls()
    finally:
        monkeypatch.delenv("DJ_QUEUE_DISABLE_PLUGINS")
        plugins.reset_plugin_manager()
    assert plugins.get_plugin_manager().get_plugin("dj_queue_plugins.localwake") is localwake


@pytest.mark.django_db(transaction=True)
def test_jobs_enqueued_is_called_after_commit_by_every_producer(recorder):
    with transaction.atomic():
        tasks.add.using(queue_name="emails").enqueue(1, 2)
        assert recorder.calls == []
    assert recorder.calls == [("default", ["emails"], False)]
    tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)  # not ready: no call
    tasks.add.get_backend().enqueue_all([(tasks.add.using(queue_name="b"), (1, 2), {}),
                                         (tasks.add.using(queue_name="a"), (1, 2), {})])
    assert recorder.calls[1:] == [("default", ["a", "b"], False)]
    recorder.calls.clear()
    scheduled = make_job("scheduled", queue="later")
    ScheduledExecution.objects.filter(job=scheduled).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due(backend_alias="default", using="default") == 1
    assert recorder.calls == [("default", [], False)]  # the dialect does not say which queues
    recorder.calls.clear()
    assert retry_failed_jobs([make_job("failed", queue="retry").pk], using="default") == 1
    assert recorder.calls == [("default", ["retry"], False)]


@pytest.mark.django_db(transaction=True)
def test_a_failing_implementation_never_reaches_the_enqueue():
    class Broken:
        @dj_queue.hookimpl
        def dj_queue_jobs_enqueued(self, backend_alias, queue_names):
            raise RuntimeError("broken plugin")

    plugins.register(Broken(), name="test-broken-enqueued")
    try:
        result = tasks.add.enqueue(1, 2)
    finally:
        plugins.get_plugin_manager().unregister(name="test-broken-enqueued")
    assert Job.objects.filter(pk=int(result.id)).exists()


# --- end to end: a fork-mode runtime woken by other processes ----------------------------------

def slow_polling_runtime(start_runtime, workers: list[dict], **options):  # noqa: F811
    """A fork runtime whose workers and dispatcher poll every 5 s; returns it and its workers' sockets."""
    config = {"workers": [{"threads": 2, "processes": 1, "polling_interval": SLOW_POLL, **w} for w in workers],
              "dispatchers": [{"batch_size": 100, "polling_interval": SLOW_POLL}],
              # On PostgreSQL NOTIFY would answer first: switched off, local wake-ups take over.
              "listen_notify": False, **options}
    directory = socket_directory("default", "default")
    before = set(sockets_in(directory))
    runtime = start_runtime("fork", config)

    def new_sockets() -> list[str]:
        return sorted(set(sockets_in(directory)) - before)

    if options.get("local_wakeup", True):
        wait_until(lambda: len(new_sockets()) == len(workers), timeout=60,
                   message=f"the workers' sockets\n{runtime.log()}")
    return runtime, new_sockets


def started_job(job_id: int, runtime) -> Job:
    return wait_until(lambda: Job.objects.filter(pk=job_id, started_at__isnull=False).first(),
                      timeout=30, message=f"job {job_id} to start\n{runtime.log()}")


def latency(job: Job) -> float:
    return (job.started_at - job.enqueued_at).total_seconds()


def enqueue_in_subprocess(queue: str) -> int:
    """Enqueue from a separate producer process (as a web server or ``manage.py shell`` would)."""
    code = ("import django\ndjango.setup()\nfrom tests.tasks_app import tasks\n"
            f"print(tasks.add.using(queue_name={queue!r}).enqueue(1, 2).id)\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
           "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_idle_fork_workers_are_woken_by_producers_in_other_processes(start_runtime):  # noqa: F811
    runtime, new_sockets = slow_polling_runtime(start_runtime, [{"queues": ["email*"]}, {"queues": ["reports"]}])
    directory = socket_directory("default", "default")
    assert sorted(parse_name(name)[1] for name in new_sockets()) == [["email*"], ["reports"]]
    # A first job per worker: once it is recorded finished its worker is idle in a 5 s wait.
    for queue in ("email_welcome", "reports"):
        job_id = int(tasks.add.using(queue_name=queue).enqueue(1, 2).id)
        wait_until(lambda: Job.objects.filter(pk=job_id, finished_at__isnull=False).exists(), timeout=30,
                   message=f"the first {queue} job\n{runtime.log()}")
    for queue in ("email_bulk", "reports", "email_welcome"):
        job = started_job(int(tasks.add.using(queue_name=queue).enqueue(2, 3).id), runtime)
        assert latency(job) < WOKEN_WITHIN, (queue, latency(job))
    job = started_job(enqueue_in_subprocess("reports"), runtime)
    assert latency(job) < WOKEN_WITHIN, latency(job)
    assert send_wakeups(directory, ["email_bulk"]) == 1  # only the email worker is a target


@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_runtime_with_local_wakeup_off_binds_no_socket(start_runtime):  # noqa: F811
    runtime, new_sockets = slow_polling_runtime(start_runtime, [{"queues": "*", "polling_interval": 0.05}],
                                                local_wakeup=False)
    job_id = int(tasks.add.enqueue(1, 2).id)
    wait_until(lambda: Job.objects.filter(pk=job_id, finished_at__isnull=False).exists(), timeout=30,
               message=f"the job to run by polling\n{runtime.log()}")
    assert new_sockets() == []
