"""The docs stay true: every hook documented with its signature, every module in the architecture."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from dj_queue import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# A documented hook is a heading like: ### `dj_queue_worker_start(process)`
HOOK_HEADING = re.compile(r"^#{2,4}\s+`?(dj_queue_\w+)\(([^)]*)\)`?\s*$", re.MULTILINE)
MODULE_PATH = re.compile(r"\b((?:dj_queue|dj_queue_plugins)/[\w/]*\w\.py)\b")
PACKAGES = ("dj_queue", "dj_queue_plugins")


def _hookspecs() -> dict[str, list[str]]:
    specs = {}
    for name, func in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("dj_queue_") and hasattr(func, "dj_queue_spec"):
            specs[name] = list(inspect.signature(func).parameters)
    return specs


def _documented_hooks() -> dict[str, list[str]]:
    text = (DOCS / "hooks.md").read_text()
    return {
        name: [p.strip() for p in params.split(",") if p.strip()]
        for name, params in HOOK_HEADING.findall(text)
    }


def _sections() -> dict[str, str]:
    text = (DOCS / "hooks.md").read_text()
    matches = list(HOOK_HEADING.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return {m.group(1): text[m.end():end] for m, end in zip(matches, ends)}


def test_hookspecs_are_found():
    assert "dj_queue_worker_start" in _hookspecs()
    assert len(_hookspecs()) >= 10


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_is_documented_with_its_signature(name):
    documented = _documented_hooks()
    assert name in documented, f"docs/hooks.md has no heading `{name}(...)`"
    assert documented[name] == _hookspecs()[name], f"docs/hooks.md documents {name} with the wrong parameters"


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_states_its_kind(name):
    spec = getattr(hookspecs, name)
    if name in hookspecs.WRAPPER_ONLY:
        kind = "wrapper"
    else:
        kind = "first result" if spec.dj_queue_spec.get("firstresult") else "fan-out"
    assert f"Kind: {kind}" in _sections()[name], f"docs/hooks.md must say 'Kind: {kind}' for {name}"


def test_no_documented_hook_is_stale():
    stale = set(_documented_hooks()) - set(_hookspecs())
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {sorted(stale)}"


def _modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in rel:
                found.append(rel)
    return found


def test_architecture_mentions_every_module():
    text = (DOCS / "architecture.md").read_text()
    missing = [module for module in _modules() if module not in text]
    assert not missing, f"docs/architecture.md does not mention: {missing}"


def test_architecture_mentions_no_missing_module():
    text = (DOCS / "architecture.md").read_text()
    gone = sorted({m for m in MODULE_PATH.findall(text) if not (ROOT / m).is_file()})
    assert not gone, f"docs/architecture.md mentions modules that do not exist: {gone}"
