"""The core in-process waker."""

from __future__ import annotations

import threading
import time

import pytest

from dj_queue import plugins
from dj_queue.compat import task_backends
from dj_queue.wakeup import InProcessWaker, Waker, matches, notify_enqueued
from tests.tasks_app import tasks


@pytest.mark.parametrize("selectors, queue, expected", [
    (["*"], "any", True), (["a", "b"], "b", True), (["a"], "b", False),
    (["email*"], "email_low", True), (["email*"], "mail", False), (None, "x", True),
])
def test_matches(selectors, queue, expected):
    assert matches(selectors, queue) is expected


def test_wait_times_out_without_notify():
    start = time.monotonic()
    assert Waker().wait(0.05) is False
    assert time.monotonic() - start >= 0.04


def test_notify_before_wait_is_not_lost():
    waker = Waker()
    waker.notify()
    assert waker.wait(0) is True
    assert waker.wait(0) is False  # consumed


def test_notify_enqueued_wakes_a_waiting_thread_of_that_backend_only():
    waker, other = InProcessWaker("wake-a", ["*"]), InProcessWaker("wake-b", ["*"])
    woken = []
    thread = threading.Thread(target=lambda: woken.append(waker.wait(10)))
    start = time.monotonic()
    thread.start()
    time.sleep(0.05)
    assert notify_enqueued("wake-a", ["default"]) == 1
    thread.join(5)
    assert woken == [True] and time.monotonic() - start < 2
    assert other.wait(0) is False
    waker.close()
    other.close()


def test_queue_selectors_filter_wakeups_and_close_unregisters():
    emails = InProcessWaker("wake-c", ["email*"])
    assert notify_enqueued("wake-c", ["reports"]) == 0
    assert notify_enqueued("wake-c", ["email_bulk"]) == 1
    emails.close()
    assert notify_enqueued("wake-c", ["email_bulk"]) == 0


def test_core_default_answers_the_waker_hook():
    waker = plugins.get_waker(task_backends["default"])
    try:
        assert isinstance(waker, InProcessWaker) and waker.backend_alias == "default"
    finally:
        waker.close()


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_this_process_notifies_after_commit():
    waker = InProcessWaker("default", ["default"])
    try:
        tasks.add.enqueue(1, 2)
        assert waker.wait(0) is True
    finally:
        waker.close()
