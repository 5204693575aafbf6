"""dj_queue on its own database: queue tables and all queue traffic on the "queue" alias.

    python examples/multi_database.py          # two SQLite files in a temporary directory
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/multi_database.py   # or mysql (see examples/README.md)

On PostgreSQL or MariaDB/MySQL create two databases first: ``dj_queue_examples_app`` for the
application and ``dj_queue_examples_queue`` for dj_queue (``DJ_QUEUE_EXAMPLE_DB_NAME=<name>``
makes them ``<name>_app`` and ``<name>_queue``). ``DjQueueRouter`` keeps dj_queue's tables off
the application's database; ``migrate --database queue`` creates them on the queue database.

The application database is not the other examples' one: ``migrate`` records dj_queue's
migrations as applied there without creating its tables, so a single-database example could not
use it afterwards.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

from example_app.setup import database


def database_for(role: str) -> dict:
    """The server (or directory) of ``database()``, database ``<name>_<role>``."""
    config = database()
    if config["ENGINE"].endswith("sqlite3"):
        root, ext = os.path.splitext(config["NAME"])
        config["NAME"] = f"{root}-{role}{ext or '.sqlite3'}"
    else:
        config["NAME"] = f"{config['NAME']}_{role}"
    return config


settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "dj_queue", "example_app"],
    DATABASES={"default": database_for("app"), "queue": database_for("queue")},
    DATABASE_ROUTERS=["dj_queue.routers.DjQueueRouter"],
    TASKS={"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [],
                       "OPTIONS": {"database_alias": "queue"}}},
    USE_TZ=True,
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402

from dj_queue.api import QueueInfo, enqueue_on_commit  # noqa: E402
from dj_queue.models import Job  # noqa: E402
from example_app.tasks import send_welcome_email  # noqa: E402


def dj_queue_tables(alias: str) -> int:
    return sum(t.startswith("dj_queue_") for t in connections[alias].introspection.table_names())


def main() -> None:
    call_command("migrate", verbosity=0)  # the application's database: no dj_queue tables
    call_command("migrate", database="queue", verbosity=0)
    print(f"dj_queue tables on default: {dj_queue_tables('default')}")
    print(f"dj_queue tables on queue: {dj_queue_tables('queue')}")
    Job.objects.all().delete()  # routed to the queue database, like every dj_queue query
    User.objects.filter(username="ada").delete()

    result = send_welcome_email.enqueue(user_id=7)
    job = Job.objects.using("queue").get(pk=result.id)
    print(f"job {result.id} stored on the queue database: {job.task_path}")
    print(f"read back: {send_welcome_email.get_result(result.id).status.name}")

    # The application's transaction is on "default"; the job waits for it to commit.
    with transaction.atomic(using="default"):
        user = User.objects.create(username="ada")
        enqueue_on_commit(send_welcome_email, user_id=user.pk)
        print(f"jobs before commit: {Job.objects.count()}")
    print(f"jobs after commit: {Job.objects.count()}")
    print(f"queue 'default' size: {QueueInfo('default').size}")


if __name__ == "__main__":
    main()
