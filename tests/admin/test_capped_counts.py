"""Costs that must not grow with the history kept: the job lists' capped count and the
lifecycle counts (see docs/performance.md, "Operator reads")."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dj_queue.dashboard import health, tables
from dj_queue.dashboard.backends import selected_backend
from dj_queue.models import FailedExecution, Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db
FAILED = "/admin/dj_queue/dashboard/jobs/failed/"
CANCELLED = "dj_queue.exceptions.JobCancelledError"


def backend():
    return selected_backend(RequestFactory().get("/"))


def history(count: int, **fields) -> None:
    """``count`` finished jobs kept, in one insert."""
    now = timezone.now()
    Job.objects.bulk_create([Job(task_path="tests.tasks_app.tasks.add", finished_at=now, last_attempted_at=now,
                                 **fields) for _ in range(count)])


def test_job_list_count_stops_at_the_cap(admin_client, monkeypatch):
    monkeypatch.setattr(tables, "COUNT_CAP", 5)
    for _ in range(8):
        make_job("failed")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(FAILED)

    paginator = response.context["table"].paginator
    assert (paginator.count, paginator.capped, paginator.shown_count) == (5, True, "5+")
    assert "Retry all 5+ failed jobs" in response.content.decode()
    # The count reads at most cap + 1 rows: a LIMIT inside it, whatever the rows kept.
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()
              and "dj_queue_failed_execution" in q["sql"]]
    assert counts and all(re.search(r"LIMIT\s+6\b", sql) for sql in counts), counts


def test_job_list_count_under_the_cap_is_exact(admin_client, monkeypatch):
    monkeypatch.setattr(tables, "COUNT_CAP", 5)
    for _ in range(3):
        make_job("failed")

    response = admin_client.get(FAILED)

    paginator = response.context["table"].paginator
    assert (paginator.count, paginator.capped, paginator.shown_count) == (3, False, "3")
    assert "Retry all 3 failed jobs" in response.content.decode()


def test_capped_paginator_pages_stop_at_the_cap():
    make_job("finished")
    history(11)
    paginator = tables.CappedPaginator(Job.objects.order_by("-pk"), 5, cap=10)

    assert (paginator.count, paginator.num_pages, paginator.shown_count) == (10, 2, "10+")
    assert len(paginator.page(2).object_list) == 5


def test_lifecycle_counts_are_right_with_history_kept():
    history(30)
    history(2, crashes=1)  # rescued, then finished: still rescued
    retrying = make_job("scheduled")
    Job.objects.filter(pk=retrying.pk).update(last_attempted_at=timezone.now())
    running = make_job("claimed", last_attempted_at=timezone.now())
    cancelled = make_job("failed")
    FailedExecution.objects.filter(job=cancelled).update(exception_class=CANCELLED)
    make_job("failed")

    counts = health.lifecycle_counts(backend())

    assert counts == {"retrying": 1, "rescued": 2, "cancelled": 1}
    assert running.pk  # claimed with an attempt: running, not retrying


@pytest.mark.applies(connection.vendor == "sqlite", reason="SQLite's plan without statistics is deterministic")
def test_lifecycle_counts_read_indexes_not_the_history():
    history(200)
    with CaptureQueriesContext(connection) as queries:
        health.lifecycle_counts(backend())

    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plans.append(" | ".join(str(row[-1]) for row in cursor.fetchall()))
    retrying, rescued, cancelled = plans
    # Unfinished jobs through the finished_at index; rescued ones through the crashes index
    # (a range past backend_alias, not a walk of every job of the backend); the failed table.
    assert "dj_queue_job_finished (backend_alias=? AND finished_at=?)" in retrying, retrying
    assert "dj_queue_job_crashes (backend_alias=? AND crashes>?)" in rescued, rescued
    assert "dj_queue_job " not in cancelled and "dj_queue_failed_execution" in cancelled, cancelled


def test_admin_changelist_count_stops_at_the_cap(admin_client, monkeypatch):
    monkeypatch.setattr(tables, "COUNT_CAP", 5)
    history(8)

    response = admin_client.get("/admin/dj_queue/job/")

    assert response.context["cl"].result_count == 5
    assert '<span id="djq-result-count">5+ jobs</span>' in response.content.decode()
    # With this tiny cap the list fits one page (5 < 50), so Django lists the whole queryset.
    assert len(response.context["cl"].result_list) == 8

