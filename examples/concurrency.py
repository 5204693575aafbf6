"""Concurrency controls: one job per key at a time ("block"), and dropping extras ("discard").

    python examples/concurrency.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/concurrency.py   # or mysql (see examples/README.md)

``sync_account`` (in example_app/tasks.py) is declared with
``@concurrency(key="account:{account_id}", limit=1)``: three jobs of one account get one ready slot;
the other two wait in the blocked set and run one after another, in order, although the worker
has three threads. ``import_feed`` uses ``on_conflict="discard"``: a job over the limit is FAILED
with ``ConcurrencyLimitDiscarded`` at once.
"""

from __future__ import annotations

import time

from example_app.setup import configure

configure({
    "workers": [{"queues": "*", "threads": 3, "polling_interval": 0.1}],
    "dispatchers": [{"polling_interval": 0.2}],
})

from django.core.management import call_command  # noqa: E402

from dj_queue.models import BlockedExecution, Job, ReadyExecution, Semaphore  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import import_feed, sync_account  # noqa: E402


def run_until_done(timeout: float = 10) -> None:
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        deadline = time.monotonic() + timeout
        while Job.objects.filter(finished_at__isnull=True, failed_execution__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not finish in time")
            time.sleep(0.05)
    finally:
        runtime.stop()


def blocking() -> None:
    results = [sync_account.enqueue(account_id=7, step=step) for step in (1, 2, 3)]
    key = Job.objects.get(pk=results[0].id).concurrency_key
    print(f"enqueued 3 jobs with concurrency key {key!r}")
    print(f"ready: {ReadyExecution.objects.count()}, blocked: {BlockedExecution.objects.count()}")
    run_until_done()
    runs = [sync_account.get_result(r.id).return_value for r in results]
    for run in runs:
        print(f"  step {run['step']} ran for {run['finished'] - run['started']:.2f}s")
    in_order = [run["step"] for run in sorted(runs, key=lambda r: r["started"])] == [1, 2, 3]
    one_at_a_time = all(later["started"] >= earlier["finished"] for earlier, later in zip(runs, runs[1:]))
    print(f"ran one at a time, in order: {in_order and one_at_a_time}")


def discarding() -> None:
    first = import_feed.enqueue(feed_id=3)
    second = import_feed.enqueue(feed_id=3)
    print(f"first import_feed job: {first.status}")
    second = import_feed.get_result(second.id)
    print(f"second import_feed job: {second.status}, error: {second.errors[0].exception_class_path}")
    print(f"  message: {Job.objects.get(pk=second.id).failed_execution.message}")


def main() -> None:
    call_command("migrate", verbosity=0)
    for model in (Job, Semaphore):
        model.objects.all().delete()
    blocking()
    discarding()


if __name__ == "__main__":
    main()
