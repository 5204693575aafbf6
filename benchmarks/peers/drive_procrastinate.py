"""Driver for procrastinate, through its ``App`` API (``batch_defer``, ``defer``) and CLI."""

from __future__ import annotations

import common
from procrastinate_app import app, noop, stamp


def setup() -> None:
    with app.open():
        app.schema_manager.apply_schema()


def enqueue_noops(jobs: int) -> float:
    with app.open():
        return common.timed(lambda: noop.batch_defer(*[{}] * jobs))


def stamper():
    app.open()  # stays open for all the samples, as in a running application
    return lambda path: stamp.defer(path=path)


if __name__ == "__main__":
    common.main(setup, enqueue_noops, stamper)
