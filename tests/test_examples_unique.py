"""The unique-jobs and per-task-hooks examples run and print what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "unique_jobs.py": [
        r"^first job \d+, duplicate got job \d+: same job: True$",
        r"^a scheduled job holds its key too: True$",
        r"^4 threads enqueued account 99: 1 distinct id, 1 job row$",
        r"^enqueue_all of 42, 50, 50: 2 distinct jobs$",
        r"^digest within the hour: same job True, status SUCCESSFUL$",
        r"^a finished report frees its key: new job True, status READY$",
    ],
    "task_hooks.py": [
        r"^account 13 vetoed: EnqueueVetoed; jobs written: 0$",
        r"^on_failure: job \d+ \(charge_account\) is FAILED: RuntimeError\('payment gateway refused account 7'\)$",
        r"^account 1: SUCCESSFUL$",
        r"^account 7: FAILED after 2 attempts; on_failure calls: 1$",
    ],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_on_sqlite(script, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJ_QUEUE_EXAMPLE_DB="sqlite", DJ_QUEUE_EXAMPLE_SQLITE=str(tmp_path / "example.sqlite3"))
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    for pattern in EXPECTED[script]:
        assert re.search(pattern, proc.stdout, re.MULTILINE), f"{script}: no line matching {pattern!r} in:\n{proc.stdout}"
