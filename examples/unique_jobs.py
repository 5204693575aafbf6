"""Unique jobs: a duplicate enqueue returns the job that already holds the key.

    python examples/unique_jobs.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/unique_jobs.py   # or mysql (see examples/README.md)

``build_report`` (example_app/hooked_tasks.py) is ``@unique(key="report:{account_id}")``: while a
report job of an account waits or runs, enqueueing it again returns that job (scheduled ones too),
from any thread. ``send_digest`` also counts successful jobs, for an hour: at most one digest per
user per hour. ``enqueue_all`` dedupes inside the batch and against existing jobs.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from example_app.setup import configure, wait_for

configure({"workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}]})

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from dj_queue.models import Job, UniqueReservation  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.hooked_tasks import build_report, send_digest  # noqa: E402


def duplicates() -> None:
    first = build_report.enqueue(42)
    again = build_report.enqueue(42, requested_by="bob")
    print(f"first job {first.id}, duplicate got job {again.id}: same job: {first.id == again.id}")
    later = build_report.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(43)
    print(f"a scheduled job holds its key too: {build_report.enqueue(43).id == later.id}")


def racing_threads() -> None:
    ids: list[str] = []

    def enqueue() -> None:
        try:
            ids.append(build_report.enqueue(99).id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    rows = Job.objects.filter(task_path=build_report.module_path, args=[99]).count()
    print(f"4 threads enqueued account 99: {len(set(ids))} distinct id, {rows} job row")


def bulk() -> None:
    backend = build_report.get_backend()
    results = backend.enqueue_all([(build_report, [42], {}), (build_report, [50], {}), (build_report, [50], {})])
    print(f"enqueue_all of 42, 50, 50: {len({r.id for r in results})} distinct jobs")


def after_success() -> None:
    first = send_digest.enqueue(7)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: send_digest.get_result(first.id).status == "SUCCESSFUL")
    finally:
        runtime.stop()
    again = send_digest.enqueue(7)
    print(f"digest within the hour: same job {again.id == first.id}, status {again.status}")
    done = Job.objects.filter(task_path=build_report.module_path, args=[50], finished_at__isnull=False).get()
    report = build_report.enqueue(50)
    print(f"a finished report frees its key: new job {report.id != str(done.pk)}, status {report.status}")


def main() -> None:
    call_command("migrate", verbosity=0)
    for model in (Job, UniqueReservation):
        model.objects.all().delete()
    duplicates()
    racing_threads()
    bulk()
    after_success()
    print(f"unique reservations: {UniqueReservation.objects.count()}")


if __name__ == "__main__":
    main()
