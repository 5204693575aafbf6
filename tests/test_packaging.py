"""Packaging: extras, entry points, py.typed, and the compat boundary for the task framework."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dj_queue", "dj_queue_plugins")
FIRST_PARTY = {
    "dj_queue_plugins.postgres": "dj_queue_plugins.postgres",
    "dj_queue_plugins.mysql": "dj_queue_plugins.mysql",
    "dj_queue_plugins.sqlite": "dj_queue_plugins.sqlite",
    "dj_queue_plugins.cleanup": "dj_queue_plugins.cleanup",
    "dj_queue_plugins.notify": "dj_queue_plugins.notify",
    "dj_queue_plugins.localwake": "dj_queue_plugins.localwake",
    "dj_queue_plugins.prometheus": "dj_queue_plugins.prometheus",
    "dj_queue_plugins.otel": "dj_queue_plugins.otel",
}


@pytest.fixture(scope="module")
def pyproject() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_extras_exist(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    assert {"postgres", "mysql", "gunicorn", "asgi", "prometheus", "otel", "dev"} <= set(extras)
    assert any(req.startswith("opentelemetry-api") for req in extras["otel"])
    assert {"opentelemetry-api", "opentelemetry-sdk"} <= {req.split(">")[0] for req in extras["dev"]}
    assert any(req.startswith("prometheus_client") for req in extras["prometheus"])
    assert any(req.startswith("prometheus_client") for req in extras["dev"])  # CI runs its tests
    assert any(req.startswith("psycopg") for req in extras["postgres"])
    assert any(req.startswith("mysqlclient") for req in extras["mysql"])
    assert {"pytest", "pytest-django", "pytest-timeout"} <= {req.split(">")[0].split("=")[0] for req in extras["dev"]}


def test_django_5_2_and_backport_are_pulled_on_older_pythons(pyproject):
    deps = pyproject["project"]["dependencies"]
    assert any(d.startswith("Django") and "<6" in d and "python_version < '3.12'" in d for d in deps)
    assert any(d.startswith("django-tasks") and "python_version < '3.12'" in d for d in deps)


def test_first_party_plugins_are_declared_entry_points(pyproject):
    declared = pyproject["project"]["entry-points"]["dj_queue"]
    assert FIRST_PARTY.items() <= declared.items()
    for name, target in declared.items():
        assert name == target and name.startswith("dj_queue_plugins."), name
        assert (ROOT / (target.replace(".", "/") + ".py")).is_file(), f"{name} points at a missing module"


def test_first_party_plugins_are_installed_entry_points():
    installed = {ep.name: ep.value for ep in entry_points(group="dj_queue")}
    for name, value in FIRST_PARTY.items():
        assert installed.get(name) == value


def test_py_typed_is_shipped(pyproject):
    assert (ROOT / "dj_queue" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["dj_queue"]
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "dj_queue*" in includes and "dj_queue_plugins*" in includes


def _task_framework_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += [n for n in names if n in ("django.tasks", "django_tasks")
                  or n.startswith(("django.tasks.", "django_tasks."))]
    return found


def test_compat_is_the_only_module_importing_the_task_framework():
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            imports = _task_framework_imports(path)
            if imports and path != ROOT / "dj_queue" / "compat.py":
                offenders[str(path.relative_to(ROOT))] = imports
    assert offenders == {}, f"import django.tasks / django_tasks through dj_queue.compat: {offenders}"
    assert _task_framework_imports(ROOT / "dj_queue" / "compat.py")


def test_plugins_import_without_their_optional_drivers():
    # A plugin module must import without its extra; None in sys.modules makes an import fail.
    code = (
        "import sys\n"
        "for name in ('psycopg', 'psycopg2', 'MySQLdb', 'gunicorn', 'uvicorn'):\n"
        "    sys.modules[name] = None\n"
        "import django\n"
        "django.setup()\n"
        "import importlib, pkgutil, dj_queue_plugins\n"
        "for info in pkgutil.iter_modules(dj_queue_plugins.__path__):\n"
        "    importlib.import_module('dj_queue_plugins.' + info.name)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DJ_QUEUE_TEST_DB": "sqlite"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
