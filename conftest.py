"""Root conftest: makes the repository importable and names the test database in reports."""

from __future__ import annotations

import os


def pytest_report_header(config):
    return f"dj_queue test database: {os.environ.get('DJ_QUEUE_TEST_DB', 'sqlite')}"
