"""Cancellation that keeps the record: waiting jobs end FAILED at once, running ones are asked.

    python examples/cancel.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/cancel.py   # or mysql (see examples/README.md)

``dj_queue.api.cancel(job_id)`` ends a ready, scheduled or blocked job FAILED with
``JobCancelledError`` (``get_result`` keeps working). A running job gets a request: a long sync
task polls ``cancel_requested(context)`` (``export_everything`` in example_app/tasks.py does) and
stops; a coroutine task would be cancelled outright.
"""

from __future__ import annotations

from datetime import timedelta

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 1, "polling_interval": 0.1}]},
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from dj_queue.api import cancel  # noqa: E402
from dj_queue.exceptions import NotCancellableError  # noqa: E402
from dj_queue.models import ClaimedExecution, Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import export_everything, send_welcome_email  # noqa: E402



def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    later = send_welcome_email.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(user_id=2)
    print(f"cancel a scheduled job: {cancel(later.id)}")
    later.refresh()
    print(f"  its result: {later.status}, error: {later.errors[0].exception_class_path}")

    export = export_everything.enqueue(rows=10_000)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: ClaimedExecution.objects.filter(job_id=export.id).exists())
        print(f"cancel a running job: {cancel(export.id)}")
        wait_for(lambda: Job.objects.filter(pk=export.id, finished_at__isnull=False).exists())
    finally:
        runtime.stop()
    export.refresh()
    print(f"  its result: {export.status}, error: {export.errors[0].exception_class_path}")
    try:
        cancel(export.id)
    except NotCancellableError as exc:
        print(f"cancel it again: NotCancellableError: {exc}")


if __name__ == "__main__":
    main()
