"""The execution thread pool."""

from __future__ import annotations

import threading

from dj_queue.runtime.pool import ThreadPool
from tests.conftest import wait_until


def test_idle_counts_submitted_work_until_it_returns():
    release = threading.Event()
    pool = ThreadPool(2)
    try:
        assert pool.idle == 2
        pool.submit(1, release.wait)
        assert pool.idle == 1 and pool.in_flight() == [1]
        pool.submit(2, release.wait)
        assert pool.idle == 0
        assert pool.wait_for_idle(0.05) is False
        release.set()
        assert pool.wait_for_idle(5) is True
        wait_until(lambda: pool.idle == 2, timeout=5)
    finally:
        release.set()
        assert pool.shutdown(5) == []


def test_an_exception_is_reported_and_the_thread_survives():
    errors = []
    pool = ThreadPool(1, on_error=errors.append)
    done = threading.Event()
    try:
        pool.submit("bad", lambda: 1 / 0)
        pool.submit("good", done.set)
        assert done.wait(5)
        assert [type(e) for e in errors] == [ZeroDivisionError]
    finally:
        pool.shutdown(5)


def test_shutdown_returns_what_is_still_running_at_the_deadline():
    release = threading.Event()
    pool = ThreadPool(2)
    pool.submit("slow", release.wait)
    pool.submit("quick", lambda: None)
    try:
        assert pool.shutdown(0.2) == ["slow"]
    finally:
        release.set()
