"""``make demo``: enqueue tasks, run them with a real dj_queue worker, read every result back.

It migrates the demo project (SQLite in demo/), enqueues an immediate job, a job scheduled two
seconds ahead, a bulk batch and a job that fails, prints the results as READY, then starts
``manage.py dj_queue`` as a subprocess, waits until every job has finished, prints the results
again with every field, and stops the runtime with SIGTERM (a graceful drain).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from dj_queue.compat import task_backends  # noqa: E402
from shop.tasks import build_report, charge_card, resize_image, send_receipt  # noqa: E402

FIELDS = ("id", "status", "enqueued_at", "started_at", "last_attempted_at", "finished_at",
          "args", "kwargs", "errors", "worker_ids", "attempts", "backend")
WAIT_SECONDS = 60


def show(title: str, result) -> None:
    """Print every field of a result read back from the database."""
    fresh = result.task.get_result(result.id)
    print(f"\n{title}: {fresh.task.name} on queue {fresh.task.queue_name!r}, priority {fresh.task.priority}")
    for field in FIELDS:
        value = getattr(fresh, field)
        if field == "status":
            value = value.value
        elif field == "errors":  # the traceback's last line ("ValueError: ...") is enough here
            value = [e.traceback.strip().splitlines()[-1] for e in value]
        print(f"  {field:<18} {value if field == 'status' else repr(value)}")
    print(f"  {'run_after':<18} {fresh.task.run_after!r}")
    try:
        print(f"  {'return_value':<18} {fresh.return_value!r}")
    except ValueError as exc:  # Django raises until the task has succeeded
        print(f"  {'return_value':<18} (not available: {exc})")


def enqueue_all() -> dict:
    """Enqueue the demo's jobs; return them by title."""
    jobs = {"immediate": send_receipt.enqueue(order_id=42, email="ada@example.com")}
    jobs["scheduled"] = build_report.using(run_after=timezone.now() + timedelta(seconds=2)).enqueue("2026-11")
    batch = task_backends["default"].enqueue_all([(resize_image, [n], {"width": 320}) for n in range(1, 6)])
    print(f"bulk: enqueued {len(batch)} jobs in one call: ids {[r.id for r in batch]}")
    jobs["bulk (first of the batch)"] = batch[0]
    jobs["failing"] = charge_card.enqueue(order_id=7)
    return jobs


def start_runtime() -> subprocess.Popen:
    cmd = [sys.executable, str(HERE / "manage.py"), "dj_queue", "--skip-recurring"]
    print(f"\nstarting the runtime: {' '.join(cmd[1:])}")
    print("(charge_card fails on purpose: the runtime logs its traceback below)")
    # Its own session, so the SIGTERM below reaches the runtime and not this script.
    return subprocess.Popen(cmd, env=os.environ.copy(), start_new_session=True)


def wait_finished(jobs: dict) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if all(r.task.get_result(r.id).is_finished for r in jobs.values()):
            return True
        time.sleep(0.2)
    return False


def stop_runtime(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=10)
    print(f"\nruntime stopped (exit code {code})")


def main() -> int:
    call_command("migrate", verbosity=0)
    print(f"database: {settings.DATABASES['default']['NAME']}")
    jobs = enqueue_all()
    show("immediate, before any worker ran", jobs["immediate"])
    proc = start_runtime()
    try:
        finished = wait_finished(jobs)
    finally:
        stop_runtime(proc)
    for title, result in jobs.items():
        show(title, result)
    if not finished:
        print(f"\nnot every job finished within {WAIT_SECONDS}s")
        return 1
    print("\nevery job finished: SUCCESSFUL ones carry their return value, the FAILED one its error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
