"""``make bench-rss``: the resident memory of each worker process while it serves 100,000 jobs.

    python benchmarks/rss.py [--jobs 100000]

Run in its own process per database by ``benchmarks/run.py --rss``. ``--jobs`` no-op jobs are
inserted by SQL into a paused queue (as ``benchmarks/scale.py`` does), the runtime of
``benchmarks/runtime.yml`` is started, and each worker process's ``VmRSS`` (``/proc/PID/status``;
the pids come from the runtime's process rows) is read idle, after the first tenth of the jobs
and once every job has finished. The issue's target: at most 60 MB per worker after 100,000
jobs, and no growth with the jobs served. Linux only. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks import measure  # noqa: E402


def rss_mb(pid: int) -> float:
    """The process's resident set size in MB (``VmRSS``, reported by Linux in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def worker_pids() -> list[int]:
    from dj_queue.models import Process

    return sorted(Process.objects.filter(kind=Process.Kind.WORKER).values_list("pid", flat=True))


def finished() -> int:
    from dj_queue.models import Job

    return Job.objects.filter(finished_at__isnull=False).count()


def serve(jobs: int) -> dict:
    """RSS per worker pid: idle, after a tenth of ``jobs``, after all of them; and the drain's rate."""
    from dj_queue.api import QueueInfo

    from benchmarks.scale import QUEUE, insert_jobs

    measure.clear()
    insert_jobs(jobs, finished=False)
    queue = QueueInfo(QUEUE)
    queue.pause()
    samples: dict[str, dict[int, float]] = {}
    with measure.running_runtime() as proc:
        pids = worker_pids()
        time.sleep(2)  # let the workers finish booting before the idle sample
        samples["idle"] = {pid: rss_mb(pid) for pid in pids}
        started = time.perf_counter()
        queue.resume()
        for label, target in ((f"after {jobs // 10:,} jobs", jobs // 10), (f"after {jobs:,} jobs", jobs)):
            measure.wait_for(lambda: finished() >= target or proc.poll() is not None, 1800, label, 1.0)
            if proc.poll() is not None:
                raise RuntimeError("the runtime exited during the drain; see benchmarks/runtime.log")
            samples[label] = {pid: rss_mb(pid) for pid in pids}
        elapsed = time.perf_counter() - started
    return {"jobs": jobs, "pids": pids, "rss_mb": samples, "drain": jobs / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    vendor = os.environ.get("DJ_QUEUE_BENCH_DB", "sqlite")
    measure.create_database(vendor)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from dj_queue.models import Process

    Process.objects.all().delete()
    (ROOT / "benchmarks/runtime.log").write_text("")
    result = serve(args.jobs)
    measure.clear()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
