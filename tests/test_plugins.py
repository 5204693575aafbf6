"""The plugin manager: entry-point loading, fault tolerance, the disable list, call_safely."""

from __future__ import annotations

import logging
import types

import pluggy
import pytest

import dj_queue
from dj_queue import hookimpl, plugins

FIRST_PARTY = ("dj_queue_plugins.postgres", "dj_queue_plugins.mysql", "dj_queue_plugins.sqlite")


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch):
    monkeypatch.delenv("DJ_QUEUE_DISABLE_PLUGINS", raising=False)
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


class FakeEntryPoint:
    def __init__(self, name: str, target: object = None, error: BaseException | None = None):
        self.name, self.target, self.error = name, target, error

    def load(self) -> object:
        if self.error is not None:
            raise self.error
        return self.target


def _plugin_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def dj_queue_worker_start(process):
        process.append(name)

    module.dj_queue_worker_start = dj_queue_worker_start
    return module


def test_hookimpl_is_exported_from_the_package():
    assert isinstance(dj_queue.hookimpl, pluggy.HookimplMarker)
    assert dj_queue.hookimpl.project_name == "dj_queue"
    assert "hookimpl" in dj_queue.__all__


def test_first_party_plugins_load_through_entry_points():
    pm = plugins.get_plugin_manager()
    for name in FIRST_PARTY:
        assert pm.has_plugin(name), name
    assert pm.has_plugin("dj_queue.defaults")
    assert plugins.get_plugin_manager() is pm


def test_reset_builds_a_new_manager():
    first = plugins.get_plugin_manager()
    plugins.reset_plugin_manager()
    assert plugins.get_plugin_manager() is not first


@pytest.mark.parametrize("error", [ImportError("no module named nope"), RuntimeError("broken at import")])
def test_plugin_that_fails_to_load_is_logged_and_skipped(monkeypatch, caplog, error):
    good = _plugin_module("good")
    fakes = [FakeEntryPoint("thirdparty.broken", error=error), FakeEntryPoint("thirdparty.good", good)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: fakes if group == "dj_queue" else [])
    with caplog.at_level(logging.ERROR, logger="dj_queue.plugins"):
        pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("thirdparty.broken")
    assert pm.get_plugin("thirdparty.good") is good
    assert any("thirdparty.broken" in r.getMessage() for r in caplog.records)


def test_an_entry_point_plugin_with_the_old_execute_form_is_logged_and_skipped(monkeypatch, caplog):
    old = types.ModuleType("old")

    @hookimpl
    def dj_queue_execute(job, call):
        return call()

    old.dj_queue_execute = dj_queue_execute
    good = _plugin_module("good")
    fakes = [FakeEntryPoint("thirdparty.old", old), FakeEntryPoint("thirdparty.good", good)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: fakes if group == "dj_queue" else [])
    with caplog.at_level(logging.ERROR, logger="dj_queue.plugins"):
        pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("thirdparty.old") and pm.get_plugin("thirdparty.good") is good
    [record] = [r for r in caplog.records if "thirdparty.old" in r.getMessage()]
    assert record.getMessage() == "dj_queue: plugin 'thirdparty.old' failed to load and is skipped"
    assert "implements dj_queue_execute without wrapper=True" in str(record.exc_info[1])


def test_environment_disable_list_blocks_plugins(monkeypatch):
    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", " dj_queue_plugins.sqlite , dj_queue_plugins.mysql,")
    pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("dj_queue_plugins.sqlite")
    assert not pm.has_plugin("dj_queue_plugins.mysql")
    assert pm.is_blocked("dj_queue_plugins.sqlite")
    assert pm.has_plugin("dj_queue_plugins.postgres")


def test_settings_disable_list_blocks_plugins(settings):
    settings.TASKS = {
        "default": {
            "BACKEND": "dj_queue.backend.DjQueueBackend",
            "QUEUES": [],
            "OPTIONS": {"plugins": {"disable": ["dj_queue_plugins.postgres"]}},
        }
    }
    assert plugins.disabled_plugin_names() == {"dj_queue_plugins.postgres"}
    pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("dj_queue_plugins.postgres")
    assert pm.is_blocked("dj_queue_plugins.postgres")
    # A blocked name cannot be registered later either.
    assert plugins.register(_plugin_module("late"), name="dj_queue_plugins.postgres") is None


def test_disabled_plugin_from_fake_entry_point_is_never_loaded(monkeypatch):
    loaded = []

    class Recording(FakeEntryPoint):
        def load(self):
            loaded.append(self.name)
            return super().load()

    monkeypatch.setenv("DJ_QUEUE_DISABLE_PLUGINS", "thirdparty.off")
    fakes = [Recording("thirdparty.off", _plugin_module("off")), Recording("thirdparty.on", _plugin_module("on"))]
    monkeypatch.setattr(plugins, "entry_points", lambda group: fakes)
    pm = plugins.get_plugin_manager()
    assert loaded == ["thirdparty.on"]
    assert pm.has_plugin("thirdparty.on") and not pm.has_plugin("thirdparty.off")


def test_call_safely_runs_every_implementation_in_registration_order():
    calls: list[str] = []
    errors: list[BaseException] = []
    boom = RuntimeError("second plugin fails")

    class Failing:
        @hookimpl
        def dj_queue_worker_start(self, process):
            process.append("failing")
            raise boom

    plugins.register(_plugin_module("first"), name="test.first")
    plugins.register(Failing(), name="test.failing")
    plugins.register(_plugin_module("third"), name="test.third")

    plugins.call_safely("dj_queue_worker_start", on_error=errors.append, process=calls)

    assert calls == ["first", "failing", "third"]
    assert errors == [boom]


def test_call_safely_logs_failures_and_survives_a_failing_on_error(caplog):
    calls: list[str] = []

    class Failing:
        @hookimpl
        def dj_queue_worker_stop(self, process):
            raise ValueError("hook failed")

    def bad_on_error(exc):
        raise RuntimeError("on_error failed too")

    plugins.register(Failing(), name="test.failing")
    plugins.register(types.SimpleNamespace(dj_queue_worker_stop=hookimpl(lambda process: calls.append("ok"))),
                     name="test.ok")
    with caplog.at_level(logging.ERROR, logger="dj_queue.plugins"):
        plugins.call_safely("dj_queue_worker_stop", on_error=bad_on_error, process=None)
    assert calls == ["ok"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("test.failing" in m for m in messages)
    assert any("on_thread_error" in m for m in messages)


def test_call_safely_passes_only_the_arguments_an_implementation_names():
    seen = []

    class JobsOnly:
        @hookimpl
        def dj_queue_jobs_claimed(self, jobs):
            seen.append(jobs)

    plugins.register(JobsOnly(), name="test.jobs_only")
    plugins.call_safely("dj_queue_jobs_claimed", process="p", jobs=[1, 2])
    assert seen == [[1, 2]]


def test_trace_hooks_environment_writes_calls_to_the_log(monkeypatch, caplog):
    monkeypatch.setenv("DJ_QUEUE_TRACE_HOOKS", "1")
    plugins.register(_plugin_module("traced"), name="test.traced")
    with caplog.at_level(logging.DEBUG, logger="dj_queue.plugins"):
        plugins.get_plugin_manager().hook.dj_queue_worker_start(process=[])
    assert any("dj_queue_worker_start" in r.getMessage() for r in caplog.records)
