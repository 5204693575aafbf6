"""``manage.py dj_queue --reload`` as a real subprocess: a code change restarts the runtime."""

from __future__ import annotations

import os
import signal
import time

import pytest

from dj_queue.compat import TaskResultStatus, task_backends
from dj_queue.models import Process
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT
from tests.tasks_app import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

WATCHED = ROOT / "tests" / "tasks_app" / "models.py"  # imported by the runtime, so watched
STARTED = "dj_queue starting:"


@pytest.fixture
def watched_module():
    """Yields a function that touches a watched module; its mtime is put back afterwards."""
    original = WATCHED.stat()
    bump = [0]

    def touch() -> None:
        bump[0] += 1
        later = time.time() + bump[0]
        os.utime(WATCHED, (later, later))

    yield touch
    os.utime(WATCHED, ns=(original.st_atime_ns, original.st_mtime_ns))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _supervisor_pid() -> int:
    return wait_until(lambda: Process.objects.filter(kind="supervisor").values_list("pid", flat=True).first(),
                      timeout=30, message="a supervisor registered")


@pytest.mark.parametrize("mode", ["async", "fork"])
def test_a_code_change_restarts_the_runtime_and_sigterm_stops_it_cleanly(start_runtime, watched_module,
                                                                          monkeypatch, mode):
    monkeypatch.setenv("DJ_QUEUE_LOG_LEVEL", "INFO")  # the start-up line is INFO
    runtime = start_runtime(mode, args=["--reload"])
    wait_until(lambda: Process.objects.filter(kind="worker").exists(), timeout=30, message="a worker registered")
    first_pid = _supervisor_pid()
    assert first_pid != runtime.pid  # the supervisor runs in the reloader's child
    assert runtime.log().count(STARTED) == 1

    # Touch until the reloader (which polls once a second) has seen a change and started again.
    changed = "models.py changed; stopping the runtime to restart it"
    wait_until(lambda: changed in runtime.log() or watched_module(), timeout=60, interval=1.0,
               message=f"the change seen; log:\n{runtime.log()}")
    wait_until(lambda: runtime.log().count(STARTED) >= 2, timeout=60, message=f"a second start-up; log:\n{runtime.log()}")
    wait_until(lambda: not _alive(first_pid), timeout=30, message="the first child exited")
    wait_until(lambda: not Process.objects.filter(pid=first_pid).exists(), timeout=30,
               message="the first runtime's rows gone")
    second_pid = wait_until(lambda: Process.objects.filter(kind="supervisor").exclude(pid=first_pid)
                            .values_list("pid", flat=True).first(), timeout=30, message="a new supervisor")

    result = tasks.add.enqueue(20, 22)
    wait_until(lambda: task_backends["default"].get_result(result.id).status == TaskResultStatus.SUCCESSFUL,
               timeout=30, message="a job run by the restarted runtime")

    runtime.signal(signal.SIGTERM)
    assert runtime.wait(30) == 0, runtime.log()
    assert not _alive(second_pid)
    assert not Process.objects.exists()
    assert "Traceback" not in runtime.log()
