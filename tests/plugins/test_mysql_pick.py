"""MySQL/MariaDB: a worker turn picks its jobs in two steps (``MySQLDialect._two_step_pick``).

The first ready rows in claim order are read as a derived table, then up to the limit of them are
locked by primary key. These tests hold rows locked or old snapshots open from a second
connection (a thread of their own) and check what the pick then takes, locks and reads.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest
from django.conf import settings
from django.db import connection, transaction

from dj_queue import plugins
from dj_queue.models import ReadyExecution
from dj_queue.operations.selectors import parse_selectors
from dj_queue_plugins import mysql_sql
from tests.operations.test_claim import ids, ready_jobs, take

pytestmark = [pytest.mark.applies(settings.DB == "mysql", reason="the MySQL/MariaDB dialect's pick"),
              pytest.mark.django_db(transaction=True)]


def claim_order() -> list[int]:
    return list(ReadyExecution.objects.order_by("-priority", "job_id").values_list("job_id", flat=True))


@contextmanager
def other_connection(work: Callable[[], None]) -> Iterator[None]:
    """Run ``work`` in a transaction of another connection and keep it open inside the block."""
    started, finish, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                finish.wait(30)
        except BaseException as exc:  # surfaced in the test's thread
            errors.append(exc)
            started.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert started.wait(30), "the other connection did not start"
        assert errors == []
        yield
    finally:
        finish.set()
        thread.join(30)
    assert not thread.is_alive() and errors == []


def lock_first(count: int) -> Callable[[], None]:
    """Lock the first ``count`` ready rows in claim order, those rows only (by primary key)."""
    first = list(ReadyExecution.objects.order_by("-priority", "job_id").values_list("id", flat=True)[:count])

    def work() -> None:
        assert len(list(ReadyExecution.objects.select_for_update().filter(id__in=first))) == count
    return work


def test_a_turn_takes_the_rows_right_behind_those_others_hold_locked():
    ready_jobs(20, priority=0)
    ready_jobs(20, priority=5)
    order = claim_order()
    with other_connection(lock_first(2)):
        assert ids(take(limit=4)) == order[2:6]


def test_when_others_hold_every_candidate_the_turn_looks_further():
    ready_jobs(60)
    order = claim_order()
    held = mysql_sql.candidates_for(4) + 6  # every candidate the pick reads, and more
    with other_connection(lock_first(held)):
        assert ids(take(limit=4)) == order[held:held + 4]


def test_only_the_rows_taken_stay_locked_until_the_commit():
    ready_jobs(40)
    order = claim_order()
    dialect = plugins.get_dialect("default")
    [everything] = parse_selectors(["*"])
    sql, params = dialect._two_step_pick("default", everything, 4, "FOR UPDATE SKIP LOCKED")
    seen: list[int] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert [row[2] for row in cursor.fetchall()] == order[:4]  # job ids, in claim order

        def others_pick() -> None:
            seen.extend(ids(take(limit=16)))  # SKIP LOCKED: it takes what this transaction does not hold

        with other_connection(others_pick):
            pass
    assert seen == order[4:20]


def test_the_pick_passes_the_deleted_entries_of_a_draining_queue_without_visiting_their_rows():
    if not connection.mysql_is_mariadb:
        pytest.skip("ANALYZE FORMAT=JSON reports the pages a statement read on MariaDB only")
    ready_jobs(3000)
    first = claim_order()[:2000]
    dialect = plugins.get_dialect("default")
    [everything] = parse_selectors(["*"])
    two_step, params = dialect._two_step_pick("default", everything, 4, "FOR UPDATE SKIP LOCKED")
    one_step, one_params = dialect._pick_sql("default", everything, 4, [])

    def pages(sql: str, values: list) -> int:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE FORMAT=JSON " + sql, values)
            plan = cursor.fetchone()[0]
        return sum(int(n) for n in _values(json.loads(plan), "pages_accessed"))

    def delete_first() -> None:  # as 2,000 claims would; the snapshot below keeps them unpurged
        ReadyExecution.objects.filter(job_id__in=first).delete()

    def old_snapshot() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM dj_queue_ready_execution")  # the read view starts here

    with other_connection(old_snapshot):
        delete_first()
        one, two = pages(one_step, one_params), pages(two_step, params)
    assert one > 2000  # the one-step locking read visits a row per deleted entry
    assert two < 300, f"the two-step pick read {two} pages"


def _values(node, key: str) -> Iterator:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            else:
                yield from _values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)
