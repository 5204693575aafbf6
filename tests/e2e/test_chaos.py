"""The short chaos run on the test database: real worker processes SIGKILLed every 1.5 s for about
15 s and one SIGSTOPped past the heartbeat threshold, under each delivery guarantee.

The full run (thousands of jobs, a database restart) is ``make chaos``; see docs/reliability.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.conf import settings
from django.db import connection

from chaos import servers
from chaos.trial import Plan, run_trial
from dj_queue import config

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
    pytest.mark.skipif("delivery" not in config.DEFAULTS,
                       reason="the delivery option is not in dj_queue.config.DEFAULTS yet (job lifecycle part 2)"),
]

# 400 jobs of 0.1 s keep 2 workers x 4 threads busy for 5 s without faults; killed workers come
# back after a growing backoff, so the faults usually last the whole 12 s. The CI run never
# restarts a database server.
SHORT = Plan(jobs=400, job_seconds=0.1, kill_every=1.5, duration=12, stop_one=True, stop_at=2.0,
             restart_db=False, recovery_window=20, heartbeat=0.5, alive_threshold=5, seed=10)


def _run(delivery: str, tmp_path) -> dict:
    database = connection.settings_dict
    env = {"DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_CHAOS_DB_NAME": str(database["NAME"])}
    return run_trial(replace(SHORT, delivery=delivery), tmp_path, server=servers.Server.from_settings(
        settings.DB, database), env=env)


@pytest.mark.parametrize("delivery", ["at_least_once", "at_most_once"])
def test_no_job_is_lost_when_workers_are_killed_and_stopped(delivery, tmp_path):
    result = _run(delivery, tmp_path)
    figures, log = result["figures"], result["workdir"]
    # The faults really happened: otherwise every check below would hold trivially.
    assert result["kills"] >= 3, result["events"]
    assert [e["action"] for e in result["events"] if e["action"] in ("SIGSTOP", "SIGCONT")] == ["SIGSTOP", "SIGCONT"]

    assert figures["lost"] == 0, (figures["lost_by_state"], log)
    assert figures["stuck"] == 0, log
    assert figures["failed_never_started"] == [], log
    assert figures["succeeded_never_ran"] == [], log
    assert figures["ran_twice_unexplained"] == [], log
    if delivery == "at_least_once":
        assert figures["succeeded"] + len(figures["crash_limited"]) == figures["jobs"], (figures["failed"], log)
    else:
        assert figures["ran_twice"] == 0, (figures["max_runs"], log)
    assert result["violations"] == [], "\n".join(result["violations"])
