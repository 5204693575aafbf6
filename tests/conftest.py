"""Shared test helpers: bounded waits and the test database's identity."""

from __future__ import annotations

import time
from typing import Callable

import pytest
from django.conf import settings


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def db_vendor() -> str:
    """sqlite | postgres | mysql: the database this run tests."""
    return settings.DB
