"""Automatic retries: a task declares how often and on which errors it runs again.

    python examples/retries.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/retries.py   # or mysql (see examples/README.md)

``charge_card`` (in example_app/tasks.py) is declared with
``@retry(max_attempts=4, backoff=lambda attempt: 0.2 * attempt, retry_on=(GatewayBusy,))``: it
fails twice with ``GatewayBusy`` and succeeds on its third attempt. ``charge_bad_card`` raises a
``ValueError``, which its policy does not retry. ``OPTIONS["retry"]`` sets the default for tasks
without ``@retry`` (no retries unless you say so).
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}],
     "dispatchers": [{"polling_interval": 0.1}]},
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402

from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import charge_bad_card, charge_card  # noqa: E402



def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    good, bad = charge_card.enqueue(order_id=7), charge_bad_card.enqueue(order_id=8)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: Job.objects.filter(finished_at__isnull=False).count() == 2)
    finally:
        runtime.stop()
    good.refresh()
    bad.refresh()
    print(f"charge_card: {good.status}, attempts: {good.attempts}, return value: {good.return_value!r}")
    for number, error in enumerate(good.errors, start=1):
        print(f"  attempt {number} failed with {error.exception_class_path}")
    print(f"charge_bad_card: {bad.status}, attempts: {bad.attempts}, error: {bad.errors[0].exception_class_path}")


if __name__ == "__main__":
    main()
