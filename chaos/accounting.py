"""What happened to every job of a chaos run: the ledger (each run of a body) against the job tables.

``tally()`` reads both and returns the run's figures; ``violations()`` says which invariants they
break for the delivery guarantee in force.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

DELIVERIES = ("at_least_once", "at_most_once")
# How a failure from hitting the crash limit is recognised: its class or message says so.
CRASH_LIMIT = re.compile(r"crash[ _-]?limit", re.IGNORECASE)
SAMPLE = 10  # ids listed per finding


def read_ledger(path: Path) -> dict[int, list[int]]:
    """job id -> pids of its runs, in the order they started."""
    runs: dict[int, list[int]] = defaultdict(list)
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        job_id, pid = line.split()
        runs[int(job_id)].append(int(pid))
    return dict(runs)


def job_states(job_ids: Iterable[int]) -> dict[str, set[int]]:
    """The ids of ``job_ids`` in each live state, plus ``successful`` and ``failed``."""
    from dj_queue import models

    ids = list(job_ids)
    states: dict[str, set[int]] = {}
    for name, model in (("ready", models.ReadyExecution), ("claimed", models.ClaimedExecution),
                        ("scheduled", models.ScheduledExecution), ("blocked", models.BlockedExecution),
                        ("failed", models.FailedExecution)):
        states[name] = set(_in_chunks(model.objects.values_list("job_id", flat=True), "job_id", ids))
    finished = set(_in_chunks(models.Job.objects.filter(finished_at__isnull=False).values_list("id", flat=True),
                              "id", ids))
    states["successful"] = finished - states["failed"] - states["claimed"]
    return states


def _in_chunks(queryset: Any, field: str, ids: list[int], size: int = 900) -> list[Any]:
    # SQLite caps the parameters of one query.
    rows: list[Any] = []
    for start in range(0, len(ids), size):
        rows += list(queryset.filter(**{f"{field}__in": ids[start:start + size]}))
    return rows


PROCESS_ERRORS = frozenset(f"dj_queue.exceptions.{name}" for name in
                           ("ProcessExitError", "ProcessPrunedError", "ProcessMissingError"))


def failures(job_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """job id -> (exception class, message) of its failed execution."""
    from dj_queue.models import FailedExecution

    rows = _in_chunks(FailedExecution.objects.values_list("job_id", "exception_class", "message"), "job_id",
                      list(job_ids))
    return {job_id: (cls, message) for job_id, cls, message in rows}


def unfinished(first_id: int, last_id: int) -> dict[str, int]:
    """How many jobs with ids in ``first_id..last_id`` are ready, claimed, scheduled or blocked."""
    from dj_queue import models

    return {name: model.objects.filter(job_id__gte=first_id, job_id__lte=last_id).count()
            for name, model in (("ready", models.ReadyExecution), ("claimed", models.ClaimedExecution),
                                ("scheduled", models.ScheduledExecution), ("blocked", models.BlockedExecution))}


def tally(job_ids: list[int], ledger: dict[int, list[int]], faulted: set[int]) -> dict[str, Any]:
    """The figures of one run; ``faulted`` are the pids that were killed or stopped."""
    states = job_states(job_ids)
    failed = failures(states["failed"])
    lost = {name: sorted(states[name]) for name in ("ready", "claimed", "scheduled", "blocked") if states[name]}
    never_started = sorted(job_id for job_id in failed if job_id not in ledger)
    twice = {job_id: pids for job_id, pids in ledger.items() if len(pids) > 1}
    unexplained = unexplained_reruns(ledger, faulted)
    return {
        "jobs": len(job_ids),
        "succeeded": len(states["successful"]),
        "failed": dict(Counter(cls for cls, _ in failed.values()).most_common()),
        "failed_total": len(failed),
        "crash_limited": sorted(job_id for job_id, (cls, msg) in failed.items() if CRASH_LIMIT.search(f"{cls} {msg}")),
        "failed_never_started": never_started,
        # Failed with the error of the process that died holding them: their start mark was written
        # (at_most_once) and the kill came before the body's first line, e.g. during the mark's round trip.
        "failed_never_started_by_crash": sorted(job_id for job_id in never_started
                                                if failed[job_id][0] in PROCESS_ERRORS),
        "succeeded_never_ran": sorted(job_id for job_id in states["successful"] if job_id not in ledger),
        "lost": sum(len(ids) for ids in lost.values()),
        "lost_by_state": {name: len(ids) for name, ids in lost.items()},
        "lost_ids": sorted(job_id for ids in lost.values() for job_id in ids),
        "ran_twice": len(twice),
        "ran_twice_explained": len(twice) - len(unexplained),
        "ran_twice_unexplained": unexplained,
        "max_runs": max((len(pids) for pids in ledger.values()), default=0),
        "never_ran": len(set(job_ids) - set(ledger)),
        "unknown_ledger_ids": len(set(ledger) - set(job_ids)),
    }


def unexplained_reruns(ledger: dict[int, list[int]], faulted: set[int]) -> list[int]:
    """Ids of jobs that ran more than once where more than one run was in a process not faulted.

    All runs but one in killed or stopped processes explain the extra runs. Not only earlier
    runs count: a stopped worker may start a job it was pruned of after the job ran elsewhere.
    """
    return sorted(job_id for job_id, pids in ledger.items()
                  if len(pids) > 1 and sum(pid not in faulted for pid in pids) > 1)


def violations(figures: dict[str, Any], delivery: str) -> list[str]:
    """The invariants ``figures`` break under ``delivery``, one line each (empty: all hold)."""
    found = []
    if figures["lost"]:
        states = ", ".join(f"{n} {state}" for state, n in figures["lost_by_state"].items())
        found.append(f"{figures['lost']} job(s) lost, not finished at the end ({states}): {_ids(figures['lost_ids'])}")
    if figures.get("stuck"):
        found.append(f"{figures['stuck']} job(s) still claimed after the recovery window")
    never_started = figures["failed_never_started"]
    if delivery == "at_most_once":  # a crash between the start mark and the body cannot be told apart
        by_crash = set(figures.get("failed_never_started_by_crash", []))
        never_started = [job_id for job_id in never_started if job_id not in by_crash]
    if never_started:
        found.append(f"{len(never_started)} job(s) FAILED without ever starting: {_ids(never_started)}")
    if figures["succeeded_never_ran"]:
        ids = figures["succeeded_never_ran"]
        found.append(f"{len(ids)} job(s) SUCCESSFUL without a run in the ledger: {_ids(ids)}")
    if figures["ran_twice_unexplained"]:
        ids = figures["ran_twice_unexplained"]
        found.append(f"{len(ids)} job(s) ran more than once outside the processes killed or stopped: {_ids(ids)}")
    if delivery == "at_least_once":
        other = figures["failed_total"] - len(figures["crash_limited"])
        if other:
            classes = ", ".join(f"{cls}: {n}" for cls, n in figures["failed"].items())
            found.append(f"{other} job(s) FAILED under at_least_once without hitting the crash limit ({classes})")
    elif figures["ran_twice"]:
        found.append(f"{figures['ran_twice']} job(s) ran more than once under at_most_once "
                      f"(at most {figures['max_runs']} runs)")
    if figures["unknown_ledger_ids"]:
        found.append(f"the ledger names {figures['unknown_ledger_ids']} job id(s) this run did not enqueue")
    return found


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:SAMPLE])
    return shown + (f" ... ({len(ids) - SAMPLE} more)" if len(ids) > SAMPLE else "")
