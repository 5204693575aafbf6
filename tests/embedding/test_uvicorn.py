"""A real uvicorn server running ``DjQueueLifespan(get_asgi_application())``."""

from __future__ import annotations

import signal

import pytest

from dj_queue.compat import TaskResultStatus
from dj_queue.models import Process
from tests.conftest import wait_until
from tests.tasks_app.tasks import add

pytestmark = pytest.mark.django_db(transaction=True)


def _status(result_id: str) -> TaskResultStatus:
    return add.get_result(result_id).status


def assert_clean_exit(server) -> None:
    """SIGTERM ends uvicorn cleanly: lifespan shutdown completes, then the process exits.

    uvicorn 0.29+ re-raises the signal it caught once it has shut down, so a clean exit shows as
    "terminated by SIGTERM"; older versions exit 0.
    """
    code = server.terminate()
    log = server.log()
    assert code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log and "Finished server process" in log, log


def test_uvicorn_runs_jobs_serves_requests_and_shuts_down_cleanly(start_server):
    server = start_server("uvicorn")
    server.wait_ready()
    status, body = server.get("/ping/")
    assert status == 200
    supervisor = wait_until(lambda: Process.objects.filter(kind="supervisor").first(), message="supervisor row")
    assert supervisor.pid == body["pid"]  # the supervisor lives in the server process itself
    assert supervisor.metadata["mode"] == "async"

    result = add.enqueue(2, 3)  # from outside the server
    wait_until(lambda: _status(result.id) == TaskResultStatus.SUCCESSFUL, message="job enqueued from outside")
    assert add.get_result(result.id).return_value == 5

    assert_clean_exit(server)
    assert list(Process.objects.values_list("kind", flat=True)) == []
    assert "embedded supervisor stopped" in server.log()


def test_jobs_enqueued_by_the_server_wake_its_workers_at_once(start_server):
    # A 30 s polling interval: only the in-process waker can make this job run within seconds.
    slow = {"workers": [{"queues": "*", "threads": 2, "polling_interval": 30}], "shutdown_timeout": 3,
            "listen_notify": False}
    server = start_server("uvicorn", options=slow)
    server.wait_ready()
    wait_until(lambda: Process.objects.filter(kind="worker").exists(), message="worker row")
    _, body = server.get("/enqueue/?a=20&b=22")
    wait_until(lambda: _status(body["id"]) == TaskResultStatus.SUCCESSFUL, timeout=10, message="woken worker")
    assert add.get_result(body["id"]).return_value == 42
    assert_clean_exit(server)


def test_a_runtime_that_cannot_start_fails_the_lifespan_startup(start_server):
    server = start_server("uvicorn", options={"shutdown_timeout": "soon"})
    code = server.proc.wait(timeout=30)
    log = server.log()
    assert code != 0
    assert "the embedded runtime could not start" in log and "shutdown_timeout" in log, log
    assert not Process.objects.exists()
