"""Enqueue a task only if, and when, the surrounding database transaction commits.

    python examples/enqueue_on_commit.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/enqueue_on_commit.py   # or mysql (see examples/README.md)

``task.enqueue()`` writes the job at once, even inside a transaction that later rolls back (or, with
dj_queue on its own database, in a transaction the job never sees). ``enqueue_on_commit`` waits for
the commit; arguments are still checked immediately, so mistakes surface where they are made.
"""

from __future__ import annotations

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from dj_queue.api import enqueue_on_commit  # noqa: E402
from dj_queue.exceptions import EnqueueError  # noqa: E402
from dj_queue.models import Job  # noqa: E402
from example_app.tasks import send_welcome_email  # noqa: E402


def jobs() -> int:
    return Job.objects.filter(task_path=send_welcome_email.module_path).count()


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()

    with transaction.atomic():
        # ... create the user here; the email must not go out for a user that never existed.
        enqueue_on_commit(send_welcome_email, user_id=1)
        print(f"jobs inside the transaction: {jobs()}")
    print(f"jobs after commit: {jobs()}")

    try:
        with transaction.atomic():
            enqueue_on_commit(send_welcome_email, user_id=2)
            raise ValueError("signup failed")
    except ValueError:
        pass
    print(f"jobs after a rollback: {jobs()}")

    enqueue_on_commit(send_welcome_email, user_id=3)  # no transaction: enqueued at once
    print(f"jobs after an enqueue outside a transaction: {jobs()}")

    try:
        with transaction.atomic():
            enqueue_on_commit(send_welcome_email, user_id=object())
    except EnqueueError as exc:
        print(f"bad arguments raise at once: {type(exc).__name__}")
    print(f"jobs in the end: {jobs()}")


if __name__ == "__main__":
    main()
