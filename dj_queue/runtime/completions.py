"""Batched completions: a worker's finished jobs are recorded several per transaction.

Execution threads hand each successful outcome to ``Completions.add`` and are free at once; one
flusher thread records everything pending with ``finish_many`` (one commit, one statement on
PostgreSQL) and then sends ``task_finished`` for each job. Commits are the unit of cost on a
database server, so this is what lets a worker go past two commits per job.

A job whose outcome is still pending is claimed by this process: a crash before the flush leaves
it to recovery (``ProcessExitError``), never runs it twice. ``close()`` flushes everything before
the worker deregisters.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from dj_queue.runtime.base import check_connections, close_connections

logger = logging.getLogger("dj_queue.runtime")

RETRY_DELAY = 1.0


class Completions:
    def __init__(self, *, process_id: int | None, using: str, backend: Any,
                 on_error: Callable[[BaseException], None]) -> None:
        self.process_id = process_id
        self.using = using
        self.backend = backend
        self.on_error = on_error
        self._pending: list[tuple[Any, Any, Any]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="dj_queue-completions", daemon=True)
        self._thread.start()

    def add(self, job: Any, value: Any, result: Any) -> None:
        """Queue a successful outcome; ``result`` is the job's RUNNING ``TaskResult``."""
        with self._cond:
            self._pending.append((job, value, result))
            self._cond.notify()

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is pending and stop the flusher."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("dj_queue: completions still pending after %.0fs at shutdown", timeout)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._pending or self._closing)
                    batch, self._pending = self._pending, []
                    closing = self._closing
                if batch:
                    self._flush(batch)
                elif closing:
                    return
        finally:
            close_connections()

    def _flush(self, batch: list[tuple[Any, Any, Any]]) -> None:
        from dj_queue.operations.completion import finish_many

        outcomes = [(job, value) for job, value, _ in batch]
        while True:
            try:
                finished = finish_many(outcomes, process_id=self.process_id, using=self.using)
                break
            except Exception as exc:  # the database is away: keep the outcomes and try again
                self.on_error(exc)
                check_connections()
                if self._closing_and_given_up():
                    return
                threading.Event().wait(RETRY_DELAY)
        self._announce(batch, {job.pk for job in finished})

    def _closing_and_given_up(self) -> bool:
        # At shutdown an unreachable database cannot be waited for forever; the claims stay and
        # recovery fails those jobs, which is visible, rather than silently lost.
        with self._cond:
            return self._closing

    def _announce(self, batch: list[tuple[Any, Any, Any]], finished_ids: set[int]) -> None:
        from dj_queue.operations.execute import announce_finished

        for job, value, result in batch:
            if job.pk in finished_ids:
                announce_finished(job, value, result, backend=self.backend)
            else:
                logger.warning("dj_queue: job %s finished but its claim was gone (pruned?); result dropped", job.pk)
