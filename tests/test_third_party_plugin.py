"""A real third-party plugin distribution, pip-installed, is loaded from its entry point and works.

The package lives in ``examples/plugin_package``. It is installed (a regular, non-editable install,
so this process can import it without re-reading ``.pth`` files) from a temporary copy, so the
build leaves nothing in the source tree, and uninstalled when the module's tests are done.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
import types
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dj_queue import plugins

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "examples" / "plugin_package"
DIST = "dj-queue-example-plugin"
NAME = "dj_queue_example_plugin"


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


def _forget_plugin() -> None:
    sys.modules.pop(NAME, None)
    importlib.invalidate_caches()
    plugins.reset_plugin_manager()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install the example plugin for this module's tests; uninstall it afterwards."""
    if _pip("--version").returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    source = tmp_path_factory.mktemp("plugin") / "plugin_package"
    shutil.copytree(PACKAGE_DIR, source)
    # Build with the interpreter's own setuptools when it can (offline); otherwise pip builds in
    # isolation, which needs setuptools from an index (a local one will do).
    proc = None
    if importlib.util.find_spec("setuptools"):
        proc = _pip("install", "--no-deps", "--quiet", "--no-build-isolation", str(source))
    if proc is None or proc.returncode != 0:
        proc = _pip("install", "--no-deps", "--quiet", str(source))
    if proc.returncode != 0:
        pytest.skip(f"cannot install {DIST} (offline without setuptools?): {proc.stderr.strip()[-400:]}")
    _forget_plugin()
    try:
        yield importlib.import_module(NAME)
    finally:
        _pip("uninstall", "--yes", DIST)
        _forget_plugin()
        assert not plugins.get_plugin_manager().has_plugin(NAME), "the example plugin outlived its tests"
        plugins.reset_plugin_manager()


@pytest.fixture
def plugin(installed):
    installed.FAILURES.clear()
    installed.WORKER_STARTS.clear()
    plugins.reset_plugin_manager()
    yield installed
    plugins.reset_plugin_manager()


def test_distribution_declares_its_entry_point(plugin):
    found = {ep.name: ep.value for ep in entry_points(group="dj_queue")}
    assert found.get(NAME) == NAME


def test_plugin_manager_loads_it_from_the_entry_point(plugin):
    manager = plugins.get_plugin_manager()
    assert manager.get_plugin(NAME) is plugin
    hooks = {impl.plugin_name for impl in manager.hook.dj_queue_job_failed.get_hookimpls()}
    assert NAME in hooks


def test_a_fresh_interpreter_finds_it_without_any_configuration(plugin):
    code = ("from dj_queue import plugins; pm = plugins.get_plugin_manager(); "
            f"print(pm.has_plugin({NAME!r}), pm.get_plugin({NAME!r}).__file__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    loaded, path = proc.stdout.split()
    assert loaded == "True"
    assert "site-packages" in path  # the installed copy, not the source tree


@pytest.mark.django_db(transaction=True)
def test_job_failed_hook_records_a_failed_job(plugin):
    from dj_queue.operations.completion import fail
    from tests.factories import make_job

    job = make_job("claimed")
    assert fail(job, ValueError("card declined"), process_id=None, using="default")
    assert plugin.FAILURES == [
        {"job_id": job.pk, "task_path": job.task_path, "error": "ValueError: card declined"}
    ]


def test_worker_start_hook_fires_through_call_safely(plugin):
    errors = []
    plugins.call_safely("dj_queue_worker_start", on_error=errors.append,
                        process=types.SimpleNamespace(name="worker-7"))
    assert plugin.WORKER_STARTS == ["worker-7"]
    assert errors == []


def test_disable_list_keeps_it_out(plugin, monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", NAME)
    plugins.reset_plugin_manager()
    manager = plugins.get_plugin_manager()
    assert not manager.has_plugin(NAME) and manager.is_blocked(NAME)
    plugins.call_safely("dj_queue_worker_start", process=types.SimpleNamespace(name="worker-8"))
    assert plugin.WORKER_STARTS == []
