"""The short chaos run on the test database: real worker processes SIGKILLed every 1.5 s for up to
12 s and one SIGSTOPped past the heartbeat threshold, under each delivery guarantee; and the
accounting those runs are judged by.

The full run (thousands of jobs, a database restart) is ``make chaos``; see docs/reliability.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.conf import settings
from django.test import override_settings
from django.db import connection

from chaos import servers
from chaos.accounting import read_ledger, unexplained_reruns, violations
from chaos.trial import Plan, run_trial

# 400 jobs of 0.1 s keep 2 workers x 4 threads busy for 5 s without faults; killed workers come
# back after a growing backoff, so the faults usually last the whole 12 s. The CI run never
# restarts a database server.
SHORT = Plan(jobs=400, job_seconds=0.1, kill_every=1.5, duration=12, stop_one=True, stop_at=2.0,
             restart_db=False, recovery_window=20, heartbeat=0.5, alive_threshold=5, seed=10)


def _run(delivery: str, tmp_path) -> dict:
    database = connection.settings_dict
    env = {"DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_CHAOS_DB_NAME": str(database["NAME"])}
    # The runtime runs the chaos project (chaos_app installed); this process enqueues its task
    # under the test settings, where the module needs the allowlist.
    tasks = {**settings.TASKS, "default": {**settings.TASKS["default"], "OPTIONS": {"task_modules": ["chaos"]}}}
    with override_settings(TASKS=tasks):
        return run_trial(replace(SHORT, delivery=delivery), tmp_path, server=servers.Server.from_settings(
            settings.DB, database), env=env)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(150)
@pytest.mark.parametrize("delivery", ["at_least_once", "at_most_once"])
def test_no_job_is_lost_when_workers_are_killed_and_stopped(delivery, tmp_path):
    result = _run(delivery, tmp_path)
    figures, log = result["figures"], result["workdir"]
    # The faults really happened: otherwise every check below would hold trivially.
    assert result["kills"] >= 3, result["events"]
    assert [e["action"] for e in result["events"] if e["action"] in ("SIGSTOP", "SIGCONT")] == ["SIGSTOP", "SIGCONT"]

    assert figures["lost"] == 0, (figures["lost_by_state"], log)
    assert figures["stuck"] == 0, log
    if delivery == "at_least_once":
        assert figures["failed_never_started"] == [], (figures["failed_never_started"], log)
    else:  # only a kill between the start mark and the body's first line may leave one
        assert set(figures["failed_never_started"]) <= set(figures["failed_never_started_by_crash"]), log
    assert figures["succeeded_never_ran"] == [], (figures["succeeded_never_ran"], log)
    assert figures["ran_twice_unexplained"] == [], (figures["ran_twice_unexplained"], log)
    if delivery == "at_least_once":
        assert figures["succeeded"] + len(figures["crash_limited"]) == figures["jobs"], (figures["failed"], log)
    else:
        assert figures["ran_twice"] == 0, (figures["max_runs"], log)
    assert result["violations"] == [], "\n".join(result["violations"])


# --- the accounting the runs are judged by ------------------------------------------------------


def test_the_ledger_gives_each_job_the_pids_of_its_runs_in_order(tmp_path):
    ledger = tmp_path / "ledger.txt"
    ledger.write_text("7 100\n8 100\n7 200\n")
    assert read_ledger(ledger) == {7: [100, 200], 8: [100]}
    assert read_ledger(tmp_path / "missing.txt") == {}


def test_extra_runs_are_explained_only_by_killed_or_stopped_processes():
    faulted = {10, 11}
    ledger = {
        1: [10, 20],      # first run killed: explained
        2: [20, 10],      # a stopped worker woke up and ran it late: explained
        3: [20, 21],      # two runs in healthy processes: unexplained
        4: [20],          # ran once
        5: [10, 11, 20],  # killed twice, then finished
        6: [20, 20],      # the same healthy process twice
    }
    assert unexplained_reruns(ledger, faulted) == [3, 6]


def _figures(**changes):
    clean = {"jobs": 10, "succeeded": 10, "failed": {}, "failed_total": 0, "crash_limited": [],
             "failed_never_started": [], "failed_never_started_by_crash": [], "succeeded_never_ran": [],
             "lost": 0, "lost_by_state": {},
             "lost_ids": [], "stuck": 0, "ran_twice": 0, "ran_twice_explained": 0,
             "ran_twice_unexplained": [], "max_runs": 1, "never_ran": 0, "unknown_ledger_ids": 0}
    return {**clean, **changes}


def test_a_clean_run_breaks_no_invariant():
    assert violations(_figures(), "at_least_once") == []
    assert violations(_figures(ran_twice=2, ran_twice_explained=2, max_runs=2), "at_least_once") == []


def test_each_broken_invariant_is_named():
    figures = _figures(
        succeeded=4, lost=2, lost_by_state={"ready": 1, "claimed": 1}, lost_ids=[3, 4], stuck=1,
        failed={"dj_queue.exceptions.ProcessExitError": 3, "dj_queue.exceptions.ProcessPrunedError": 1},
        failed_total=4, crash_limited=[9], failed_never_started=[5], succeeded_never_ran=[6],
        ran_twice=2, ran_twice_explained=1, ran_twice_unexplained=[7], max_runs=3)
    common = [
        "2 job(s) lost, not finished at the end (1 ready, 1 claimed): 3, 4",
        "1 job(s) still claimed after the recovery window",
        "1 job(s) FAILED without ever starting: 5",
        "1 job(s) SUCCESSFUL without a run in the ledger: 6",
        "1 job(s) ran more than once outside the processes killed or stopped: 7",
    ]
    assert violations(figures, "at_least_once") == common + [
        "3 job(s) FAILED under at_least_once without hitting the crash limit "
        "(dj_queue.exceptions.ProcessExitError: 3, dj_queue.exceptions.ProcessPrunedError: 1)"]
    assert violations(figures, "at_most_once") == common + [
        "2 job(s) ran more than once under at_most_once (at most 3 runs)"]


def test_failures_at_the_crash_limit_are_allowed_under_at_least_once():
    figures = _figures(succeeded=9, failed={"dj_queue.exceptions.ProcessExitError": 1}, failed_total=1,
                       crash_limited=[4])
    assert violations(figures, "at_least_once") == []


def test_at_most_once_tolerates_only_never_started_jobs_failed_by_a_kill():
    # 5 failed with the dead worker's error after its start mark; 6 failed with another error.
    figures = _figures(succeeded=8, failed={"dj_queue.exceptions.ProcessExitError": 1, "builtins.ValueError": 1},
                       failed_total=2, failed_never_started=[5, 6], failed_never_started_by_crash=[5])
    assert violations(figures, "at_most_once") == ["1 job(s) FAILED without ever starting: 6"]
    assert violations(figures, "at_least_once")[0] == "2 job(s) FAILED without ever starting: 5, 6"


def test_the_runtime_config_carries_synchronous_turns_only_when_asked():
    from chaos import runtime as runtimes
    from dj_queue.config import validate

    assert "synchronous_turns" not in runtimes.config(heartbeat=1, alive_threshold=5)
    relaxed = runtimes.config(heartbeat=1, alive_threshold=5, synchronous_turns=False)
    assert validate(relaxed)["synchronous_turns"] is False
