"""Pages stay bounded on big tables: the number of queries does not grow with the rows.

The suite compares 10 rows with ``BIG`` rows per table (low thousands, so it stays quick on
SQLite and MariaDB); every query is a COUNT, a GROUP BY on an indexed column or a page.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dj_queue.models import (
    BlockedExecution,
    ClaimedExecution,
    FailedExecution,
    Job,
    Pause,
    Process,
    ReadyExecution,
    RecurringExecution,
    RecurringTask,
    ScheduledExecution,
    Semaphore,
)

pytestmark = pytest.mark.django_db
BIG = 1500
FAILURES = ("builtins.ValueError", "dj_queue.exceptions.JobCancelledError",
            "dj_queue.exceptions.ConcurrencyLimitDiscarded")
PAGES = ["/admin/dj_queue/dashboard/", *[f"/admin/dj_queue/dashboard/jobs/{s}/" for s in
         ("ready", "scheduled", "blocked", "claimed", "failed", "finished")],
         *[f"/admin/dj_queue/{m}/" for m in
           ("job", "readyexecution", "scheduledexecution", "blockedexecution", "claimedexecution",
            "failedexecution", "process", "pause", "semaphore", "recurringtask", "recurringexecution")],
         *[f"/admin/dj_queue/job/?lifecycle={name}" for name in ("retrying", "rescued", "cancelled")]]


def populate(per_state: int) -> None:
    """``per_state`` rows in every table, spread over 5 queues, with bulk inserts."""
    now, later = timezone.now(), timezone.now() + timedelta(hours=1)
    states = ("ready", "scheduled", "blocked", "claimed", "failed", "finished")
    errors = [{"exception_class": "builtins.ValueError", "message": "boom", "traceback": "Traceback ...",
               "worker_id": "w1", "failed_at": now.isoformat()}]
    Job.objects.bulk_create([
        Job(task_path="tests.tasks_app.tasks.add", queue_name=f"q{i % 5}", args=[i, state], kwargs={"n": i},
            finished_at=now if state in ("failed", "finished") else None, crashes=i % 2,
            worker_ids=["w1"] * (i % 3), errors=errors * (i % 3), last_attempted_at=now if i % 3 else None)
        for state in states for i in range(per_state)
    ], batch_size=500)
    ids = list(Job.objects.order_by("pk").values_list("pk", "queue_name"))
    by_state = {state: ids[n * per_state:(n + 1) * per_state] for n, state in enumerate(states)}
    ReadyExecution.objects.bulk_create([ReadyExecution(job_id=j, queue_name=q) for j, q in by_state["ready"]])
    ScheduledExecution.objects.bulk_create(
        [ScheduledExecution(job_id=j, queue_name=q, scheduled_at=later) for j, q in by_state["scheduled"]])
    BlockedExecution.objects.bulk_create([
        BlockedExecution(job_id=j, queue_name=q, concurrency_key=f"k{j}", expires_at=later)
        for j, q in by_state["blocked"]])
    ClaimedExecution.objects.bulk_create([ClaimedExecution(job_id=j, process_id=1)
                                          for j, _ in by_state["claimed"]])
    FailedExecution.objects.bulk_create([
        FailedExecution(job_id=j, exception_class=FAILURES[j % 3], message="boom") for j, _ in by_state["failed"]])
    Process.objects.bulk_create([Process(kind="worker", name=f"w{i}", pid=i) for i in range(per_state)])
    Pause.objects.bulk_create([Pause(queue_name=f"paused{i}") for i in range(per_state)])
    Semaphore.objects.bulk_create([Semaphore(key=f"k{i}", expires_at=later) for i in range(per_state)])
    RecurringTask.objects.bulk_create([RecurringTask(key=f"r{i}", schedule="*/5 * * * *", task_path="a.b")
                                       for i in range(per_state)])
    RecurringExecution.objects.bulk_create([RecurringExecution(task_key=f"r{i}", run_at=now)
                                            for i in range(per_state)])


def query_counts(client) -> dict[str, int]:
    """Queries per page: the fixed pages, a job page per state and a confirmation naming 60 jobs."""
    counts = {}
    jobs = {state: ex.objects.order_by("-pk").values_list("job_id", flat=True).first() for state, ex in
            (("ready", ReadyExecution), ("claimed", ClaimedExecution), ("failed", FailedExecution))}
    for state, job_id in jobs.items():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/admin/dj_queue/dashboard/job/{job_id}/").status_code == 200
        counts[f"job page ({state})"] = len(captured)
    ids = list(ReadyExecution.objects.order_by("job_id").values_list("job_id", flat=True)[:60])
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/admin/dj_queue/dashboard/action/",
                               {"op": "cancel", "state": "ready", "ids": ids, "backend": "default"})
        assert response.status_code == 200 and response.content.count(b"<li>Job ") == min(len(ids), 50)
    counts["cancel confirmation"] = len(captured)
    for url in PAGES:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        counts[url] = len(captured)
    return counts


def test_query_count_does_not_grow_with_rows(admin_client):
    populate(10)
    small = query_counts(admin_client)
    Job.objects.all().delete()
    for model in (Process, Pause, Semaphore, RecurringTask, RecurringExecution):
        model.objects.all().delete()
    populate(BIG)
    assert query_counts(admin_client) == small
    assert max(small.values()) <= 25, small


@pytest.mark.parametrize("url", ["/admin/dj_queue/job/", "/admin/dj_queue/failedexecution/",
                                 "/admin/dj_queue/recurringexecution/"])
def test_changelist_filters_read_no_distinct_over_the_history_tables(admin_client, url):
    populate(10)
    history = ("dj_queue_job", "dj_queue_failed_execution", "dj_queue_recurring_execution")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    scans = [q["sql"] for q in queries.captured_queries
             if "DISTINCT" in q["sql"].upper() and any(f'FROM "{t}"' in q["sql"] or f"FROM `{t}`" in q["sql"]
                                                        for t in history)]
    assert scans == []


def test_the_job_changelist_still_offers_backends_and_the_queues_of_waiting_jobs(admin_client):
    populate(10)
    response = admin_client.get("/admin/dj_queue/job/")
    choices = {spec.title: [c["display"] for c in spec.choices(response.context["cl"])][1:]
               for spec in response.context["cl"].filter_specs}
    assert choices["backend alias"] == ["default"]
    assert choices["queue (with waiting jobs)"] == sorted([f"paused{i}" for i in range(10)] + [f"q{i}" for i in range(5)])
    assert admin_client.get("/admin/dj_queue/job/?queue_name=q1").context["cl"].result_count == 6 * 10 // 5
