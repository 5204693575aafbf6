"""The decorator API: names, calling conventions, order, failure isolation, surviving resets."""

from __future__ import annotations

import logging

import pytest

from dj_queue import hookimpl, hooks, plugins

DECORATORS = {
    "on_start": "dj_queue_supervisor_start",
    "on_stop": "dj_queue_supervisor_stop",
    "on_exit": "dj_queue_supervisor_exit",
    **{
        f"on_{kind}_{event}": f"dj_queue_{kind}_{event}"
        for kind in ("worker", "dispatcher", "scheduler")
        for event in ("start", "stop", "exit")
    },
}
errors_seen: list[BaseException] = []


def record_error(exc: BaseException) -> None:
    """An ``on_thread_error`` target for the runtime's error reporter."""
    errors_seen.append(exc)


@pytest.fixture(autouse=True)
def clean_hooks():
    before = {id(func) for _, func in hooks.registered_hooks()}
    plugins.reset_plugin_manager()
    errors_seen.clear()
    yield
    for _, func in hooks.registered_hooks():
        if id(func) not in before:
            hooks.unregister_hook(func)
    plugins.reset_plugin_manager()


def fire(hook_name: str, process: object = None, on_error=None) -> None:
    plugins.call_safely(hook_name, on_error=on_error, process=process)


def test_every_lifecycle_event_has_a_decorator():
    assert set(DECORATORS) <= set(hooks.__all__)
    assert sorted(hooks.HOOK_NAMES.values()) == sorted(DECORATORS.values())


@pytest.mark.parametrize("decorator, hook_name", sorted(DECORATORS.items()))
def test_decorator_registers_for_its_hook_only(decorator, hook_name):
    seen = []

    @getattr(hooks, decorator)
    def remember(process):
        seen.append(process)

    fire(hook_name, process="actor")
    other = "dj_queue_worker_exit" if hook_name != "dj_queue_worker_exit" else "dj_queue_worker_start"
    fire(other, process="other")
    assert seen == ["actor"]


def test_register_hook_maps_dotted_names_and_works_as_a_decorator():
    seen = []

    def direct(process):
        seen.append(("direct", process))

    assert hooks.register_hook("dispatcher.stop", direct) is direct

    @hooks.register_hook("dispatcher.stop")
    def decorated(process):
        seen.append(("decorated", process))

    assert callable(decorated) and decorated.__name__ == "decorated"
    fire("dj_queue_dispatcher_stop", process="p")
    assert seen == [("direct", "p"), ("decorated", "p")]


def test_unknown_name_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError) as info:
        hooks.register_hook("worker.started", lambda: None)
    message = str(info.value)
    assert "'worker.started'" in message
    for name in hooks.HOOK_NAMES:
        assert name in message
    with pytest.raises(ValueError):
        hooks.register_hook("dj_queue_worker_start")  # the hook name is not the event name


def test_zero_argument_callables_are_called_without_the_process():
    calls = []
    hooks.on_worker_start(lambda: calls.append("no-arg"))
    hooks.on_worker_start(lambda *args: calls.append(args))
    fire("dj_queue_worker_start", process="p")
    assert calls == ["no-arg", ("p",)]


@pytest.mark.parametrize("bad", [lambda a, b: None, lambda *, process: None, "not callable"])
def test_callables_that_cannot_take_the_process_are_refused_at_registration(bad):
    with pytest.raises(TypeError, match="lifecycle hook"):
        hooks.on_worker_start(bad)
    assert hooks.registered_hooks() == []


def test_hooks_fire_in_registration_order_alongside_plugins():
    calls = []

    class Plugin:
        @hookimpl
        def dj_queue_scheduler_start(self, process):
            calls.append("plugin")

    hooks.on_scheduler_start(lambda: calls.append("first"))
    plugins.register(Plugin(), name="test.hooks.plugin")
    hooks.register_hook("scheduler.start", lambda p: calls.append("third"))
    hooks.on_scheduler_start(lambda: calls.append("fourth"))
    fire("dj_queue_scheduler_start")
    assert calls == ["first", "plugin", "third", "fourth"]


def test_a_failing_hook_is_logged_and_reported_and_never_blocks_the_next(caplog):
    calls, errors = [], []
    boom = RuntimeError("hook failed")

    @hooks.on_worker_stop
    def failing(process):
        calls.append("failing")
        raise boom

    hooks.on_worker_stop(lambda: calls.append("after"))
    with caplog.at_level(logging.ERROR, logger="dj_queue.plugins"):
        fire("dj_queue_worker_stop", on_error=errors.append)
    assert calls == ["failing", "after"]
    assert errors == [boom]
    assert any("failing" in r.getMessage() for r in caplog.records)


def test_hook_errors_reach_the_configured_on_thread_error():
    from dj_queue.runtime.base import error_reporter

    @hooks.on_dispatcher_exit
    def failing():
        raise KeyError("missing")

    reporter = error_reporter({"on_thread_error": f"{__name__}.record_error"})
    fire("dj_queue_dispatcher_exit", on_error=reporter)
    assert [type(e) for e in errors_seen] == [KeyError]


def test_registrations_survive_a_reset_of_the_plugin_manager_in_order():
    calls = []
    hooks.on_exit(lambda: calls.append("a"))
    hooks.on_exit(lambda: calls.append("b"))
    first = plugins.get_plugin_manager()
    plugins.reset_plugin_manager()
    assert plugins.get_plugin_manager() is not first
    fire("dj_queue_supervisor_exit")
    assert calls == ["a", "b"]


def test_registering_before_the_manager_exists_fires_once():
    calls = []
    plugins.reset_plugin_manager()  # the next get_plugin_manager() builds inside register_hook
    hooks.on_start(lambda: calls.append("once"))
    fire("dj_queue_supervisor_start")
    assert calls == ["once"]


def test_registering_the_same_callable_twice_is_a_no_op():
    calls = []

    def once(process):
        calls.append(process)

    hooks.on_worker_exit(once)
    hooks.register_hook("worker.exit", once)
    fire("dj_queue_worker_exit", process=1)
    assert calls == [1]
    assert hooks.registered_hooks() == [("worker.exit", once)]


def test_unregister_removes_a_hook_now_and_after_a_reset():
    calls = []

    def gone():
        calls.append("gone")

    hooks.on_worker_start(gone)
    hooks.on_worker_exit(gone)
    assert hooks.unregister_hook(gone, "worker.start") == 1
    fire("dj_queue_worker_start")
    assert calls == []
    assert hooks.unregister_hook(gone) == 1
    plugins.reset_plugin_manager()
    fire("dj_queue_worker_exit")
    assert calls == []
    assert hooks.unregister_hook(gone) == 0


def test_decorator_hooks_are_ordinary_plugins_on_the_shared_manager():
    @hooks.on_dispatcher_start
    def visible(process):
        return None

    impls = plugins.get_plugin_manager().hook.dj_queue_dispatcher_start.get_hookimpls()
    names = [impl.plugin_name for impl in impls]
    assert len(names) == 1 and names[0].startswith(hooks.PLUGIN_PREFIX)
    assert "visible" in names[0]
