"""A failed job keeps its error; retry it and it runs again under the same id.

    python examples/retry_failed.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/retry_failed.py   # or mysql (see examples/README.md)

``charge_once_flaky`` (in example_app/tasks.py) raises on its first attempt and succeeds on the
next. An in-process runtime runs it, ``retry_failed_job`` moves it back to ready, and the same
runtime runs it again.
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 1, "polling_interval": 0.1}]},
    # The worker logs a failed job at WARNING with its traceback; kept quiet for short output.
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402

from dj_queue.models import FailedExecution, Job  # noqa: E402
from dj_queue.operations.jobs import retry_failed_job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import charge_once_flaky  # noqa: E402



def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    result = charge_once_flaky.enqueue(order_id=7)
    print(f"enqueued job {result.id}")

    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: FailedExecution.objects.filter(job_id=result.id).exists())
        result.refresh()
        failed = FailedExecution.objects.get(job_id=result.id)
        print(f"status: {result.status}, attempts: {result.attempts}")
        print(f"exception: {failed.exception_class}: {failed.message}")
        print(f"traceback kept: {'Traceback' in failed.traceback}")

        print(f"retried: {retry_failed_job(int(result.id))}")
        wait_for(lambda: Job.objects.filter(pk=result.id, finished_at__isnull=False).exists())
    finally:
        runtime.stop()

    result.refresh()
    print(f"status: {result.status}, attempts: {result.attempts}, same id: {result.id}")
    print(f"return value: {result.return_value!r}")
    print(f"retrying a job that is not failed: {retry_failed_job(int(result.id))}")


if __name__ == "__main__":
    main()
