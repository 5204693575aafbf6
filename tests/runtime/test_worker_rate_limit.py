"""The worker-level ``rate_limit`` option: at most N jobs started per period by one worker."""

from __future__ import annotations

import time

import pytest

from dj_queue.runtime.worker import Worker
from tests.conftest import wait_until
from tests.runtime.helpers import Running, options
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_starts_at_most_its_rate_limit_per_period():
    for i in range(5):
        tasks.record.enqueue(f"job-{i}")
    worker = Worker(backend_alias="default", options=options(), queues=["*"], threads=3,
                    polling_interval=0.05, rate_limit="2/5")
    running = Running(worker)
    try:
        wait_until(lambda: SideEffect.objects.count() >= 2, timeout=20, message="the first two jobs")
        time.sleep(1.0)
        # Three threads are idle and three jobs wait, but the limit allows no third start yet.
        assert SideEffect.objects.count() == 2
        wait_until(lambda: SideEffect.objects.count() >= 4, timeout=30, message="the next two jobs")
    finally:
        running.stop()
    starts = sorted(SideEffect.objects.values_list("created_at", flat=True))
    # Jobs 3 and 4 were claimed a full period after jobs 1 and 2 (less the claim-to-run delay).
    assert (starts[2] - starts[0]).total_seconds() >= 4.5
    assert worker.rate_limiter.limit == 2 and worker.rate_limiter.period == 5.0
