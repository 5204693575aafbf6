"""Batched completions: a worker's finished jobs are recorded together with its next claim.

Execution threads hand each successful outcome to ``Completions.add`` and are free at once. The
worker's loop takes everything pending and records it in the same transaction as its next claim
(``operations.claim.finish_and_claim``: one statement on PostgreSQL), then announces each job
(``task_finished``). Commits are the unit of cost on a database server; this is what lets a
worker go well past two commits per job.

A job whose outcome is still pending stays claimed by this process: a crash before it is
recorded leaves it to recovery (``ProcessExitError``); it never runs twice. The worker flushes
what is pending before it deregisters.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dj_queue.logs import job_fields
from dj_queue.operations.execute import announce_finished

logger = logging.getLogger("dj_queue.runtime")


class Completions:
    """A thread-safe list of ``(job, return value, running TaskResult)`` waiting to be recorded."""

    def __init__(self, *, backend: Any) -> None:
        self.backend = backend
        self._pending: list[tuple[Any, Any, Any]] = []
        self._lock = threading.Lock()

    def add(self, job: Any, value: Any, result: Any) -> None:
        with self._lock:
            self._pending.append((job, value, result))

    def take(self) -> list[tuple[Any, Any, Any]]:
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def put_back(self, batch: list[tuple[Any, Any, Any]]) -> None:
        """Keep outcomes whose recording failed for the next attempt."""
        with self._lock:
            self._pending[:0] = batch

    def job_ids(self) -> set[int]:
        with self._lock:
            return {job.pk for job, _, _ in self._pending}

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    @staticmethod
    def outcomes(batch: list[tuple[Any, Any, Any]]) -> list[tuple[Any, Any]]:
        return [(job, value) for job, value, _ in batch]

    def announce(self, batch: list[tuple[Any, Any, Any]], finished: list[Any]) -> None:
        """Send ``task_finished`` for the recorded ones; log the ones whose claim was lost."""
        finished_ids = {job.pk for job in finished}
        for job, value, result in batch:
            if job.pk in finished_ids:
                announce_finished(job, value, result, backend=self.backend)
            else:
                logger.warning("dj_queue: job %s (%s) finished after its claim was lost (process pruned?); "
                               "its result was not recorded", job.pk, job.task_path, extra=job_fields(job))
