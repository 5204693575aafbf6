"""Enqueue many jobs in one backend call with ``enqueue_all`` (bulk inserts, not a loop).

    python examples/bulk_enqueue.py           # DJ_QUEUE_EXAMPLE_DB=postgres|mysql for the servers
"""

from __future__ import annotations

import time

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402

from dj_queue.compat import task_backends  # noqa: E402
from example_app.tasks import resize_image  # noqa: E402


COUNT = 2000


def main() -> None:
    call_command("migrate", verbosity=0)
    backend = task_backends["default"]
    batch = [(resize_image, [image_id], {"width": 320}) for image_id in range(COUNT)]

    started = time.perf_counter()
    results = backend.enqueue_all(batch)
    elapsed = time.perf_counter() - started

    print(f"enqueued {len(results)} jobs in {elapsed:.3f}s ({len(results) / elapsed:,.0f} jobs/s)")
    print(f"ids from {results[0].id} to {results[-1].id}, all {results[0].status}")
    print(f"distinct ids: {len({r.id for r in results})}")


if __name__ == "__main__":
    main()
