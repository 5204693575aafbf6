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


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "applies(condition, reason): collect the test only where it applies (e.g. one database); "
        "elsewhere it is deselected, not skipped, so a skip always means something is missing",
    )


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("applies")
        (kept if marker is None or marker.args[0] else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
