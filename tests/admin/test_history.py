"""Attempt rows from ``worker_ids`` and ``errors``, and a failure policy in words."""

from __future__ import annotations

from types import SimpleNamespace

from dj_queue.dashboard.history import attempt_rows
from dj_queue.dashboard.policy import describe_policy
from dj_queue.policies import Policy

CANCELLED = "dj_queue.exceptions.JobCancelledError"
DISCARDED = "dj_queue.exceptions.ConcurrencyLimitDiscarded"


def job(worker_ids, errors):
    return SimpleNamespace(worker_ids=worker_ids, errors=errors)


def err(worker="", cls="builtins.ValueError"):
    return {"exception_class": cls, "message": "m", "traceback": "", "worker_id": worker, "failed_at": ""}


def summary(rows):
    return [(r.number, r.worker_id, r.outcome, (r.error or {}).get("exception_class")) for r in rows]


def test_a_retried_job_that_then_succeeded():
    rows = attempt_rows(job(["w1", "w2"], [err("w1")]), "finished")
    assert summary(rows) == [(1, "w1", "failed", "builtins.ValueError"), (2, "w2", "succeeded", None)]


def test_a_crash_without_worker_id_belongs_to_the_next_unmatched_attempt():
    rows = attempt_rows(job(["w1", "w1", "w2"], [err("w1"), err("", "dj_queue.exceptions.ProcessPrunedError")]),
                        "claimed")
    assert [r.outcome for r in rows] == ["failed", "failed", "running"]
    assert rows[1].error["exception_class"] == "dj_queue.exceptions.ProcessPrunedError"


def test_cancelled_while_waiting_for_a_retry_is_a_row_without_attempt_number():
    rows = attempt_rows(job(["w1"], [err("w1"), err("", CANCELLED)]), "failed")
    assert summary(rows) == [(1, "w1", "failed", "builtins.ValueError"), (None, "", "cancelled", CANCELLED)]


def test_discarded_before_any_attempt():
    assert summary(attempt_rows(job([], [err("", DISCARDED)]), "failed")) == [(None, "", "discarded", DISCARDED)]


def test_no_attempts_no_rows_and_malformed_errors_still_show():
    assert attempt_rows(job([], []), "ready") == []
    rows = attempt_rows(job(["w1"], ["plain text error"]), "failed")
    assert summary(rows) == [(1, "w1", "failed", None)] and rows[0].error == {"message": "plain text error"}


def test_policy_in_words():
    def backoff(attempt):
        return attempt * 10

    rows = dict(describe_policy(Policy(max_attempts=3, backoff=backoff, retry_on=(ConnectionError, KeyError),
                                       timeout=2.5, delivery="at_most_once", crash_limit=1,
                                       exactly_once="default")))
    assert rows == {
        "Attempts allowed": "3 (2 retries)",
        "Backoff": "computed by tests.admin.test_history.test_policy_in_words.<locals>.backoff",
        "Retried errors": "ConnectionError, KeyError", "Timeout": "2.5 s",
        "Delivery": "at most once, crash limit 1", "Exactly once": "yes, on database 'default'",
    }
    assert dict(describe_policy(Policy(max_attempts=2)))["Backoff"] == (
        "exponential from 5 s, at most 600 s, with jitter")
