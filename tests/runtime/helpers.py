"""Helpers for runtime tests: options, captured errors and actors run in threads."""

from __future__ import annotations

import threading
from typing import Any

from dj_queue import config

ERRORS: list[BaseException] = []


def capture_error(exc: BaseException) -> None:
    """An ``on_thread_error`` target for tests."""
    ERRORS.append(exc)


def options(**overrides: Any) -> dict[str, Any]:
    """Validated options with test-friendly intervals."""
    values = {"process_heartbeat_interval": 0.2, "shutdown_timeout": 2,
              "on_thread_error": "tests.runtime.helpers.capture_error", **overrides}
    result = config.validate(values)
    result["skip_recurring"] = False
    return result


class Running:
    """Run ``target.run`` in a thread; ``stop()`` stops and joins it."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.thread = threading.Thread(target=target.run, daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 15) -> None:
        self.target.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.target!r} did not stop"
