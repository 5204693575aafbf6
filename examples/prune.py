"""``manage.py dj_queue_prune``: delete old finished jobs, failed jobs and recurring reservations.

    python examples/prune.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/prune.py   # or mysql (see examples/README.md)

The script writes rows that look three days old (and a few recent ones) straight into the tables,
then prunes them with ``call_command`` exactly as ``python manage.py dj_queue_prune ...`` would.
Recent rows, and failed jobs unless ``--failed-older-than`` is given, are kept; ``--dry-run`` first
shows what would go and deletes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from dj_queue.models import FailedExecution, Job, RecurringExecution  # noqa: E402

TASK = "example_app.tasks.send_welcome_email"


def seed() -> None:
    now, old = timezone.now(), timezone.now() - timedelta(days=3)
    for finished_at in (old, old, old, now):  # three old successful jobs, one recent
        Job.objects.create(task_path=TASK, args=[1], finished_at=finished_at, enqueued_at=finished_at)
    for created_at in (old, now):  # one old failure, one recent
        job = Job.objects.create(task_path=TASK, args=[2], enqueued_at=created_at)
        FailedExecution.objects.create(job=job, exception_class="builtins.ValueError", message="boom",
                                       created_at=created_at)
    for days in (3, 2, 0):
        RecurringExecution.objects.create(task_key="nightly-report", run_at=now - timedelta(days=days),
                                          created_at=now - timedelta(days=days))


def counts() -> str:
    finished = Job.objects.filter(finished_at__isnull=False).count()
    return (f"finished jobs {finished}, failed jobs {FailedExecution.objects.count()}, "
            f"recurring executions {RecurringExecution.objects.count()}")


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    RecurringExecution.objects.all().delete()
    seed()
    print(f"before: {counts()}")
    call_command("dj_queue_prune", "--older-than", "1d", "--dry-run")  # prints, deletes nothing
    print(f"after --dry-run: {counts()}")
    call_command("dj_queue_prune", "--older-than", "1d")
    print(f"after --older-than 1d: {counts()}")
    call_command("dj_queue_prune", "--failed-older-than", "1d", "--recurring-older-than", "36h")
    print(f"after --failed-older-than 1d --recurring-older-than 36h: {counts()}")


if __name__ == "__main__":
    main()
