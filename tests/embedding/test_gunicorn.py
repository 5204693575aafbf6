"""A real Gunicorn server (2 sync workers) with ``from dj_queue_plugins.gunicorn import post_fork, worker_exit``."""

from __future__ import annotations

import pytest

from dj_queue.compat import TaskResultStatus
from dj_queue.models import Process
from tests.conftest import wait_until
from tests.tasks_app.tasks import add

pytestmark = pytest.mark.django_db(transaction=True)


def _supervisor_pids() -> set[int]:
    return set(Process.objects.filter(kind="supervisor").values_list("pid", flat=True))


def _succeeded(result_id: str) -> bool:
    return add.get_result(result_id).status == TaskResultStatus.SUCCESSFUL


def test_each_gunicorn_worker_runs_a_supervisor(start_server):
    server = start_server("gunicorn", args=["-w", "2"])
    server.wait_ready()
    pids = wait_until(lambda: len(_supervisor_pids()) == 2 and _supervisor_pids(), message="two supervisors")
    assert server.proc.pid not in pids  # in the workers, never in the arbiter

    results = [add.enqueue(i, i) for i in range(4)]
    for result in results:
        wait_until(lambda: _succeeded(result.id), message=f"job {result.id}")
    status, _ = server.get("/ping/")
    assert status == 200

    assert server.terminate() == 0, server.log()
    assert list(Process.objects.values_list("kind", flat=True)) == []
    assert server.log().count("embedded supervisor of worker") == 2


def test_one_per_host_runs_a_single_supervisor(start_server, tmp_path):
    env = {"DJ_QUEUE_GUNICORN_ONE_PER_HOST": "1", "DJ_QUEUE_GUNICORN_LOCK_FILE": str(tmp_path / "dj_queue.lock")}
    server = start_server("gunicorn", env=env, args=["-w", "2"])
    server.wait_ready()
    # Both workers have been through post_fork: one started, the other waits for the lock.
    wait_until(lambda: "embedded supervisor started" in server.log() and "waits; another worker" in server.log(),
               message="both workers booted")
    assert len(_supervisor_pids()) == 1

    result = add.enqueue(1, 1)
    wait_until(lambda: _succeeded(result.id), message="job run by the single supervisor")
    assert server.terminate() == 0, server.log()
    assert not Process.objects.exists()
