"""A real third-party plugin distribution, pip-installed, is loaded from its entry point and works.

The package lives in ``examples/plugin_package``. It is installed (a regular, non-editable install)
from a temporary copy into the ``site-packages`` of a throwaway virtual environment that sees this
interpreter's packages, never into the environment running the tests: several test runs may share
that environment at once (CI does), and one run uninstalling the plugin, or its hooks showing up in
another run's plugin manager, would make both flaky. This process adds that ``site-packages`` to
``sys.path`` for the module's tests and removes it afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import site
import subprocess
import sys
import sysconfig
import types
import venv
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


def _throwaway_env(root: Path) -> tuple[Path, Path]:
    """A venv (no pip) whose interpreter also sees this one's packages; its python and site-packages."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    target = Path(purelib)
    # addsitedir (not a bare path line) so the outer environment's own .pth files, such as the
    # editable install of dj_queue, are honoured too.
    outer = [p for p in {*site.getsitepackages(), sysconfig.get_path("purelib")} if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in sorted(outer)]
    (target / "_outer_environment.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return python, target


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """Install the example plugin into a throwaway environment; this process sees it for the module."""
    if _pip("--version").returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "plugin_package"
    shutil.copytree(PACKAGE_DIR, source)
    python, target = _throwaway_env(tmp / "env")
    # Build with the interpreter's own setuptools when it can (offline); otherwise pip builds in
    # isolation, which needs setuptools from an index (a local one will do).
    proc = None
    if importlib.util.find_spec("setuptools"):
        proc = _pip("install", "--no-deps", "--quiet", "--no-build-isolation", "--target", str(target), str(source))
    if proc is None or proc.returncode != 0:
        proc = _pip("install", "--no-deps", "--quiet", "--target", str(target), str(source))
    if proc.returncode != 0:
        pytest.skip(f"cannot install {DIST} (offline without setuptools?): {proc.stderr.strip()[-400:]}")
    sys.path.insert(0, str(target))
    _forget_plugin()
    try:
        yield types.SimpleNamespace(python=python, site_packages=target, module=importlib.import_module(NAME))
    finally:
        sys.path.remove(str(target))
        _forget_plugin()
        assert not plugins.get_plugin_manager().has_plugin(NAME), "the example plugin outlived its tests"
        plugins.reset_plugin_manager()


@pytest.fixture
def plugin(environment):
    installed = environment.module
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


def test_a_fresh_interpreter_finds_it_without_any_configuration(plugin, environment):
    code = ("from dj_queue import plugins; pm = plugins.get_plugin_manager(); "
            f"print(pm.has_plugin({NAME!r}), pm.get_plugin({NAME!r}).__file__)")
    proc = subprocess.run([str(environment.python), "-c", code], capture_output=True, text=True, timeout=60,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    loaded, path = proc.stdout.split()
    assert loaded == "True"
    assert Path(path).is_relative_to(environment.site_packages)  # the installed copy, not the source tree


def test_the_environment_running_the_tests_is_left_alone(plugin):
    proc = subprocess.run([sys.executable, "-c", f"import importlib.util; print(importlib.util.find_spec({NAME!r}))"],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"


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
