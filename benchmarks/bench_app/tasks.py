"""Tasks the benchmarks enqueue."""

from __future__ import annotations

from dj_queue.compat import task


@task(queue_name="bench")
def noop() -> None:
    return None
