"""Timeouts: an attempt that runs past its deadline ends with ``JobTimeoutError``.

    python examples/timeouts.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/timeouts.py   # or mysql (see examples/README.md)

``crunch_numbers`` (in example_app/tasks.py) is declared with ``@timeout(0.5)`` and asked to work
for 30 seconds: the worker's watchdog interrupts it after half a second, records the timeout
(the retry policy then applies; this task has none) and the same thread goes on with the next job.
"""

from __future__ import annotations

import time

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 1, "polling_interval": 0.1}], "timeout_grace": 1},
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402

from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import crunch_numbers, send_welcome_email  # noqa: E402



def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    slow = crunch_numbers.enqueue(seconds=30)
    after = send_welcome_email.enqueue(user_id=1)
    runtime = EmbeddedRuntime.from_settings()
    started = time.monotonic()
    runtime.start()
    try:
        wait_for(lambda: Job.objects.filter(finished_at__isnull=False).count() == 2)
    finally:
        runtime.stop()
    slow.refresh()
    after.refresh()
    print(f"crunch_numbers: {slow.status}, error: {slow.errors[0].exception_class_path}")
    print(f"both jobs done within 10 s: {time.monotonic() - started < 10}")
    print(f"next job on the same thread: {after.status}")


if __name__ == "__main__":
    main()
