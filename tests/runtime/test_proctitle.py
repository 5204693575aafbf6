"""Process titles: what each actor is called in ``ps``, and that nothing happens without setproctitle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection

from dj_queue import config
from dj_queue.models import Process
from dj_queue.runtime import proctitle
from dj_queue.runtime.supervisor import Slot, actor_specs
from tests.conftest import wait_until
from tests.runtime.helpers import options

ROOT = Path(__file__).resolve().parents[2]


def test_titles_name_the_actor_and_number_the_workers():
    opts = options(workers=[{"queues": "*", "threads": 4, "processes": 2},
                            {"queues": ["emails", "reports"], "threads": 1}])
    slots = [Slot(spec) for spec in actor_specs(opts, mode="fork", skip_recurring=True)]
    assert [proctitle.actor_title(slot, slots) for slot in slots] == [
        "dj_queue worker 1/3 queues=* threads=4",
        "dj_queue worker 2/3 queues=* threads=4",
        "dj_queue worker 3/3 queues=emails,reports threads=1",
        "dj_queue dispatcher",
    ]
    assert proctitle.supervisor_title("default", "fork") == "dj_queue supervisor backend=default mode=fork"


def test_without_setproctitle_nothing_happens(monkeypatch):
    monkeypatch.setitem(sys.modules, "setproctitle", None)  # makes the import fail
    before = Path(f"/proc/{os.getpid()}/cmdline").read_bytes() if Path("/proc/self").exists() else None
    assert proctitle.set_title("dj_queue test") is False
    if before is not None:
        assert Path(f"/proc/{os.getpid()}/cmdline").read_bytes() == before


def _cmdline(pid: int) -> str:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return " ".join(part.decode() for part in raw.split(b"\0") if part)


def _titles_shown(pids: dict[int, str]) -> bool:
    return all(_cmdline(pid).startswith("dj_queue ") for pid in pids)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.django_db(transaction=True)
def test_a_fork_runtime_titles_its_supervisor_and_children(tmp_path):
    pytest.importorskip("setproctitle")
    path = tmp_path / "dj_queue.yml"
    path.write_text(yaml.safe_dump({
        "process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 4, "processes": 2, "polling_interval": 0.1}],
    }))
    env = {**os.environ, "DJ_QUEUE_TEST_DB": settings.DB, "DJ_QUEUE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
           "PYTHONPATH": str(ROOT)}
    for name in (config.ENV_MODE, config.ENV_SKIP_RECURRING, config.ENV_CONFIG):
        env.pop(name, None)
    log_path = tmp_path / "runtime.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "django", "dj_queue", "--mode", "fork", "--config", str(path),
                                 "--settings", "tests.settings"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True)
    try:
        kinds = ["worker", "worker", "dispatcher", "scheduler"]
        wait_until(lambda: sorted(Process.objects.exclude(kind="supervisor").values_list("kind", flat=True))
                   == sorted(kinds) or proc.poll() is not None, timeout=30, message="the children registered")
        assert proc.poll() is None, log_path.read_text()
        children = {row.pid: row.kind for row in Process.objects.exclude(kind="supervisor")}
        # A child sets its title before it registers, but /proc is read only now.
        wait_until(lambda: _titles_shown({proc.pid: "supervisor", **children}), timeout=10, message="titles")
        titles = {_cmdline(pid) for pid in children}
        assert _cmdline(proc.pid) == "dj_queue supervisor backend=default mode=fork"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert titles == {"dj_queue worker 1/2 queues=* threads=4", "dj_queue worker 2/2 queues=* threads=4",
                      "dj_queue dispatcher", "dj_queue scheduler"}
