"""Enqueue a task with dj_queue and see the job it became.

    python examples/basic_enqueue.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/basic_enqueue.py   # or mysql (see examples/README.md)

Nothing runs the job here: it waits, READY, for a dj_queue worker.
"""

from __future__ import annotations

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402

from example_app.tasks import send_welcome_email  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    result = send_welcome_email.enqueue(user_id=7)
    # The id is the real, persisted job id: it can be stored and looked up later.
    print(f"enqueued job {result.id}")
    print(f"status: {result.status}")
    print(f"queue: {result.task.queue_name}, priority: {result.task.priority}")
    print(f"enqueued_at: {result.enqueued_at.isoformat()}")


if __name__ == "__main__":
    main()
