"""supervisor_pidfile."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dj_queue.runtime.pidfile import Pidfile, PidfileError


def test_acquire_writes_our_pid_and_release_removes_it(tmp_path):
    path = tmp_path / "run" / "dj_queue.pid"
    pidfile = Pidfile(path)
    pidfile.acquire()
    assert path.read_text().strip() == str(os.getpid())
    pidfile.release()
    assert not path.exists()


def test_a_live_holder_is_refused(tmp_path):
    path = tmp_path / "dj_queue.pid"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(f"{holder.pid}\n")
        with pytest.raises(PidfileError, match=str(holder.pid)):
            Pidfile(path).acquire()
        assert path.read_text().strip() == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_file_is_replaced(tmp_path):
    path = tmp_path / "dj_queue.pid"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path.write_text(f"{gone.pid}\n")
    pidfile = Pidfile(path)
    pidfile.acquire()
    assert path.read_text().strip() == str(os.getpid())
    pidfile.release()


def test_release_leaves_a_file_that_is_not_ours(tmp_path):
    path = tmp_path / "dj_queue.pid"
    pidfile = Pidfile(path)
    pidfile.acquire()
    path.write_text("1\n")
    pidfile.release()
    assert path.exists()


def test_a_path_that_cannot_hold_a_pidfile_is_a_pidfile_error(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory\n")
    with pytest.raises(PidfileError) as info:
        Pidfile(blocker / "dj_queue.pid").acquire()  # its "directory" is a file
    assert str(info.value).startswith(f"dj_queue: cannot write the supervisor_pidfile {str(blocker / 'dj_queue.pid')!r}: ")
