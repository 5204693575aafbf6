"""The ``dj_queue`` and ``dj_queue_health`` commands' argument handling (runs are end-to-end tests)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from dj_queue.models import Process
from dj_queue.operations import processes


def test_only_work_and_only_dispatch_exclude_each_other():
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("dj_queue", "--only-work", "--only-dispatch")


def test_a_bad_config_file_is_a_command_error(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("shutdown_timeot: 1\n")
    with pytest.raises(CommandError, match="did you mean 'shutdown_timeout'"):
        call_command("dj_queue", "--config", str(path))


def test_unknown_backend_is_a_command_error():
    with pytest.raises(CommandError, match="no TASKS backend named 'nope'"):
        call_command("dj_queue", "--backend", "nope")
    with pytest.raises(CommandError, match="no TASKS backend named 'nope'"):
        call_command("dj_queue_health", "--backend", "nope")


def test_nothing_to_run_is_a_command_error(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("workers: []\n")
    with pytest.raises(CommandError, match="nothing to run"):
        call_command("dj_queue", "--config", str(path), "--only-work")


@pytest.mark.django_db
def test_health_exit_status_follows_heartbeat_age():
    with pytest.raises(CommandError, match="unhealthy") as excinfo:
        call_command("dj_queue_health")
    assert excinfo.value.returncode == 1
    process = processes.register(kind="worker", backend_alias="default", using="default")
    out = StringIO()
    call_command("dj_queue_health", "--max-age", "30", stdout=out)
    assert "healthy: 1 process" in out.getvalue()
    Process.objects.filter(pk=process.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=60))
    with pytest.raises(CommandError, match="unhealthy"):
        call_command("dj_queue_health", "--max-age", "30")
    with pytest.raises(CommandError, match="positive"):
        call_command("dj_queue_health", "--max-age", "0")
