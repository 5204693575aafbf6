"""Several runtimes on one database: one full runtime plus two ``--only-work`` ones share the work."""

from __future__ import annotations

import pytest

from dj_queue.models import ClaimedExecution, FailedExecution, Job, Process, ReadyExecution
from dj_queue.operations.enqueue import JobSpec, enqueue_jobs
from tests.conftest import wait_until
from tests.e2e.conftest import start_runtime  # noqa: F401  (fixture)
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

JOBS = 2000
WORKERS = [{"queues": "*", "threads": 3, "processes": 1, "polling_interval": 0.05}]


def worker_pids_by_runtime(runtimes) -> dict[int, set[int]]:
    """Each runtime's supervisor pid -> the pids of its worker processes."""
    pids: dict[int, set[int]] = {runtime.pid: set() for runtime in runtimes}
    for worker in Process.objects.filter(kind="worker").select_related("supervisor"):
        if worker.supervisor is not None and worker.supervisor.pid in pids:
            pids[worker.supervisor.pid].add(worker.pid)
    return pids


def test_a_full_runtime_and_two_work_only_runtimes_run_every_job_exactly_once(start_runtime):
    runtimes = [start_runtime("fork", {"workers": WORKERS}),
                start_runtime("fork", {"workers": WORKERS}, ["--only-work"]),
                start_runtime("fork", {"workers": WORKERS}, ["--only-work"])]
    pids = wait_until(lambda: (found := worker_pids_by_runtime(runtimes)) and all(found.values()) and found,
                      timeout=60, message="a worker in each of the three runtimes")
    # Only the full runtime runs a dispatcher: --only-work means workers only.
    wait_until(lambda: Process.objects.filter(kind="dispatcher").exists(), timeout=30, message="the dispatcher")
    dispatchers = Process.objects.filter(kind="dispatcher").select_related("supervisor")
    assert [dispatcher.supervisor.pid for dispatcher in dispatchers] == [runtimes[0].pid]

    specs = [JobSpec(tasks.record.module_path, "default", 0, [f"job-{index}"], {}) for index in range(JOBS)]
    enqueue_jobs(specs, backend_alias="default", using="default")
    wait_until(lambda: Job.objects.filter(finished_at__isnull=False).count() == JOBS, timeout=240,
               interval=0.5, message=f"{JOBS} jobs finished")

    # Exactly once: the key is unique, so a second run of a job would have failed it.
    assert SideEffect.objects.count() == JOBS
    assert set(SideEffect.objects.values_list("key", flat=True)) == {f"job-{index}" for index in range(JOBS)}
    assert not FailedExecution.objects.exists()
    assert not ReadyExecution.objects.exists() and not ClaimedExecution.objects.exists()
    # Every runtime's worker ran some of them.
    ran_in = set(SideEffect.objects.values_list("pid", flat=True).distinct())
    for runtime in runtimes:
        assert ran_in & pids[runtime.pid], f"runtime {runtime.pid} ran no job:\n{runtime.log()}"
    assert ran_in <= set().union(*pids.values())
