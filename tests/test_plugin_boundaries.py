"""First-party plugins use what hooks pass them and public modules, never runtime internals.

``dj_queue.runtime`` holds the actors; a plugin reaching into it would break when they change.
The embedding adapters ``asgi.py`` and ``gunicorn.py`` are the one exception: they start a
runtime, and may import its public entry point ``dj_queue.runtime.threaded.EmbeddedRuntime``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "dj_queue_plugins"
# (module, imported name) pairs the embedding adapters may use, and nothing else from runtime.
ALLOWED = {
    "asgi.py": {("dj_queue.runtime.threaded", "EmbeddedRuntime")},
    "gunicorn.py": {("dj_queue.runtime.threaded", "EmbeddedRuntime")},
}


def runtime_imports(source: str) -> set[tuple[str, str]]:
    """Every ``(module, name)`` imported from ``dj_queue.runtime`` in ``source``, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {(node.module, alias.name) for alias in node.names}
            if node.module == "dj_queue":
                found |= {(f"dj_queue.{n}", "*") for _, n in names if n == "runtime"}
            elif node.module == "dj_queue.runtime" or node.module.startswith("dj_queue.runtime."):
                found |= names
        elif isinstance(node, ast.Import):
            found |= {(a.name, "*") for a in node.names
                      if a.name == "dj_queue.runtime" or a.name.startswith("dj_queue.runtime.")}
    return found


@pytest.mark.parametrize("path", sorted(PLUGINS.glob("*.py")), ids=lambda p: p.name)
def test_first_party_plugins_do_not_import_runtime_internals(path):
    unexpected = runtime_imports(path.read_text()) - ALLOWED.get(path.name, set())
    assert not unexpected, f"{path.name} imports runtime internals: {sorted(unexpected)}"


@pytest.mark.parametrize("source, expected", [
    ("from dj_queue.runtime.base import error_reporter", {("dj_queue.runtime.base", "error_reporter")}),
    ("def f():\n    import dj_queue.runtime.worker", {("dj_queue.runtime.worker", "*")}),
    ("from dj_queue import runtime", {("dj_queue.runtime", "*")}),
    ("from dj_queue.runtime.threaded import EmbeddedRuntime", {("dj_queue.runtime.threaded", "EmbeddedRuntime")}),
    ("from dj_queue import plugins\nimport dj_queue.types", set()),
])
def test_the_check_sees_every_import_form(source, expected):
    assert runtime_imports(source) == expected
