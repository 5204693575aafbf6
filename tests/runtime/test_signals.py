"""The signal mailbox."""

from __future__ import annotations

import os
import signal
import threading
import time

from dj_queue.runtime import signals


def test_mailbox_returns_posted_messages_in_order():
    box = signals.Mailbox()
    try:
        box.post("a")
        box.post("b")
        assert box.wait(1) == ["a", "b"]
        assert box.wait(0.01) == []
    finally:
        box.close()


def test_mailbox_wait_is_woken_from_another_thread():
    box = signals.Mailbox()
    try:
        threading.Timer(0.05, box.post, args=("stop",)).start()
        start = time.monotonic()
        assert box.wait(5) == ["stop"]
        assert time.monotonic() - start < 2
    finally:
        box.close()


def test_installed_signal_is_posted_and_restore_puts_back_the_old_handler():
    box = signals.Mailbox()
    previous = signal.getsignal(signal.SIGUSR1)
    restore = signals.install(box, [signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert box.wait(2) == [signal.SIGUSR1]
    finally:
        restore()
        box.close()
    assert signal.getsignal(signal.SIGUSR1) == previous


def test_signal_names():
    assert signals.name(signal.SIGTERM) == "SIGTERM"
    assert signals.name(9999) == "9999"
