"""Read a job's result back from the database: every field of Django's ``TaskResult``.

    python examples/result_readback.py        # DJ_QUEUE_EXAMPLE_DB=postgres|mysql for the servers

``get_result`` works from any process (a web request, a shell) given only the id.
"""

from __future__ import annotations

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402

from dj_queue.compat import TaskResultDoesNotExist, task_backends  # noqa: E402
from example_app.tasks import send_welcome_email  # noqa: E402


FIELDS = ("id", "status", "enqueued_at", "started_at", "last_attempted_at", "finished_at",
          "args", "kwargs", "errors", "worker_ids", "attempts", "is_finished", "backend")


def main() -> None:
    call_command("migrate", verbosity=0)
    job_id = send_welcome_email.enqueue(7, template="launch").id

    # Later, maybe in another process: look the job up by id alone.
    result = send_welcome_email.get_result(job_id)
    for field in FIELDS:
        print(f"{field}: {getattr(result, field)!r}")
    try:
        result.return_value
    except ValueError as exc:  # Django raises until the job has finished
        print(f"return_value: not yet ({exc})")

    result.refresh()  # reloads status, times, errors and worker ids from the database
    print(f"after refresh: {result.status}")

    try:
        task_backends["default"].get_result("999999999")
    except TaskResultDoesNotExist:
        print("unknown id: TaskResultDoesNotExist")


if __name__ == "__main__":
    main()
