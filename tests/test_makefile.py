"""The Makefile: ``make demo`` installs only what the demo needs, ``make test`` everything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _dry_run(target: str, tmp_path: Path) -> list[str]:
    """The pip install commands ``make -n target`` would run for a virtualenv that does not exist yet."""
    out = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [line.strip() for line in out.splitlines() if re.search(r"-m pip install .*-e ", line)]


def test_make_demo_installs_dj_queue_without_extras(tmp_path):
    installs = _dry_run("demo", tmp_path)
    assert installs == [f"{tmp_path / 'venv'}/bin/python -m pip install -q -e . || exit 1; \\"]
    assert not any(extra in line for line in installs for extra in ("mysql", "postgres", "dev"))


def test_make_test_still_installs_the_test_extras(tmp_path):
    installs = _dry_run("test", tmp_path)
    assert any('-e ".[dev,postgres,mysql]"' in line for line in installs)


def _command(target: str, tmp_path: Path, *assignments: str) -> str:
    """The line ``make -n target`` would run to start the target's script."""
    # Under ``make test DB=...`` the outer make's command-line variables would reach this make too.
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DB")}
    out = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}", *assignments], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return next(line.strip() for line in out.splitlines() if "benchmarks/" in line and "run.py" in line)


def test_make_bench_peers_runs_the_peers_harness_on_postgres_unless_told(tmp_path):
    venv_python = f"{tmp_path / 'venv'}/bin/python"
    assert _command("bench-peers", tmp_path) == f"{venv_python} benchmarks/peers/run.py"
    assert _command("bench-peers", tmp_path, "DB=mysql", "BENCH_ARGS=--jobs 1000 --rounds 1") == (
        f"{venv_python} benchmarks/peers/run.py --db mysql --jobs 1000 --rounds 1")


def test_make_bench_scale_runs_the_scale_mode_on_postgres_unless_told(tmp_path):
    venv_python = f"{tmp_path / 'venv'}/bin/python"
    assert _command("bench-scale", tmp_path) == f"{venv_python} benchmarks/run.py --scale --db postgres"
    assert _command("bench-scale", tmp_path, "DB=sqlite") == f"{venv_python} benchmarks/run.py --scale --db sqlite"
