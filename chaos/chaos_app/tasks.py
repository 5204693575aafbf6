"""The one task the chaos harness runs: it leaves a ledger line per run, then takes its time."""

from __future__ import annotations

import os
import time

from dj_queue.compat import TaskContext, task


@task(takes_context=True)
def record(context: TaskContext, ledger: str, seconds: float) -> None:
    """Append ``"{job id} {pid}"`` to ``ledger``, then sleep ``seconds``.

    The line is written first, so a run killed mid-body still counts as started. One ``write``
    on an ``O_APPEND`` descriptor is atomic for lines this short: concurrent runs in threads and
    processes never interleave.
    """
    line = f"{context.task_result.id} {os.getpid()}\n".encode()
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    time.sleep(seconds)
