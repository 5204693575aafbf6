"""Progress: a running task reports a percentage and small JSON metadata; any process reads it.

    python examples/progress.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/progress.py   # or mysql (see examples/README.md)

The task calls ``dj_queue.api.set_progress(context, percent, metadata)``; this script, like a web
view or the dashboard's job page would, reads ``dj_queue.api.get_progress(job_id)`` meanwhile.
See docs/tasks.md ("Progress and metadata").
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 1, "polling_interval": 0.05}]},
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

import time  # noqa: E402

from django.core.management import call_command  # noqa: E402

from dj_queue.api import get_progress, set_progress  # noqa: E402
from dj_queue.exceptions import EnqueueError  # noqa: E402
from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.workflow_tasks import import_rows  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    result = import_rows.enqueue(1000)
    print(f"before it runs: {get_progress(result.id)}")
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    seen = []
    try:
        wait_for(lambda: Job.objects.filter(pk=result.id, progress__isnull=False).exists())
        while not Job.objects.filter(pk=result.id, finished_at__isnull=False).exists():
            progress = get_progress(result.id)["progress"]
            if progress is not None and progress not in seen:
                seen.append(progress)
            time.sleep(0.05)
    finally:
        runtime.stop()
    print(f"seen while running: {len(seen) >= 2} (first {seen[0]}%)")
    print(f"after it finished: {get_progress(result.id)}")
    try:
        set_progress(result.id, 120)
    except EnqueueError as exc:
        print(f"out of range: EnqueueError: {exc}")


if __name__ == "__main__":
    main()
