"""Lifecycle hooks as plain decorators, on top of the plugin manager.

    from dj_queue.hooks import on_worker_start, register_hook

    @on_worker_start
    def warm_caches(process):  # a frozen dj_queue.types.ProcessInfo: process.name, process.queues ...
        ...

    @register_hook("scheduler.exit")
    def goodbye():
        ...

Each registered callable becomes a tiny plugin with one ``@hookimpl`` method, so decorator hooks
and ``@dj_queue.hookimpl`` plugins share one registry and one calling convention: they run in
registration order, and a failing hook is logged and handed to ``on_thread_error`` without
stopping the hooks after it. ``on_start`` / ``on_stop`` / ``on_exit`` are the supervisor's.
Register hooks before the runtime starts (e.g. in ``AppConfig.ready``): forked children inherit
them, and they survive ``plugins.reset_plugin_manager()``.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import types
from typing import Any, Callable, TypeVar

import pluggy

from dj_queue import hookimpl, plugins

__all__ = [
    "HOOK_NAMES", "register_hook", "unregister_hook", "registered_hooks",
    "on_start", "on_stop", "on_exit",
    "on_worker_start", "on_worker_stop", "on_worker_exit",
    "on_dispatcher_start", "on_dispatcher_stop", "on_dispatcher_exit",
    "on_scheduler_start", "on_scheduler_stop", "on_scheduler_exit",
]

F = TypeVar("F", bound=Callable[..., Any])

KINDS = ("supervisor", "worker", "dispatcher", "scheduler")
EVENTS = ("start", "stop", "exit")
#: ``"worker.start"`` -> ``"dj_queue_worker_start"``, for every kind and event.
HOOK_NAMES: dict[str, str] = {f"{k}.{e}": f"dj_queue_{k}_{e}" for k in KINDS for e in EVENTS}

PLUGIN_PREFIX = "dj_queue.hooks:"

_lock = threading.Lock()
_counter = itertools.count(1)
# (plugin name, plugin object, user callable), in registration order; replayed on every rebuild.
_registered: list[tuple[str, Any, Callable[..., Any]]] = []


def register_hook(name: str, func: F | None = None) -> Any:
    """Run ``func`` on lifecycle event ``name`` (``"<kind>.<event>"``, e.g. ``"worker.start"``).

    ``func`` takes the process (a ``dj_queue.types.ProcessInfo``) or nothing. Without ``func``,
    return a decorator.
    """
    hook_name = _hook_name(name)
    if func is None:
        return lambda f: register_hook(name, f)
    plugin = _plugin_for(hook_name, func)
    with _lock:
        if any(f is func and _hook_of(p) == hook_name for _, p, f in _registered):
            return func  # registering twice (a second ``ready()``) must not run it twice
        plugin_name = f"{PLUGIN_PREFIX}{next(_counter)}:{hook_name}:{_label(func)}"
        _registered.append((plugin_name, plugin, func))
    manager = plugins.get_plugin_manager()
    if not manager.has_plugin(plugin_name):  # building the manager may have registered it already
        manager.register(plugin, name=plugin_name)
    return func


def unregister_hook(func: Callable[..., Any], name: str | None = None) -> int:
    """Forget ``func`` (for event ``name`` only, if given); return how many registrations went."""
    hook_name = _hook_name(name) if name is not None else None
    with _lock:
        gone = {n for n, p, f in _registered if f is func and hook_name in (None, _hook_of(p))}
        _registered[:] = [r for r in _registered if r[0] not in gone]
    manager = plugins.get_plugin_manager()
    for plugin_name in gone:
        if manager.has_plugin(plugin_name):
            manager.unregister(name=plugin_name)
    return len(gone)


def registered_hooks() -> list[tuple[str, Callable[..., Any]]]:
    """``(event name, callable)`` for every decorator hook, in registration order."""
    events = {v: k for k, v in HOOK_NAMES.items()}
    with _lock:
        return [(events[_hook_of(plugin)], func) for _, plugin, func in _registered]


def _register_all(manager: pluggy.PluginManager) -> None:
    """Build callback: put every decorator hook on a freshly built manager, in order."""
    with _lock:
        registered = list(_registered)
    for plugin_name, plugin, _ in registered:
        if not manager.has_plugin(plugin_name):
            manager.register(plugin, name=plugin_name)


def _hook_name(name: Any) -> str:
    if name not in HOOK_NAMES:
        raise ValueError(
            f"dj_queue: unknown lifecycle hook {name!r}; valid names: {', '.join(HOOK_NAMES)}"
        )
    return HOOK_NAMES[name]


def _hook_of(plugin: Any) -> str:
    return plugin.dj_queue_hook_name


def _label(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', type(func).__name__)}"


def _takes_process(func: Callable[..., Any]) -> bool:
    """True when ``func(process)`` is the call, False for ``func()``; TypeError for neither."""
    if not callable(func):
        raise TypeError(f"dj_queue: a lifecycle hook must be callable, got {func!r}")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins hide their signature: assume one argument
        return True
    for args in ((None,), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return bool(args)
    raise TypeError(
        f"dj_queue: lifecycle hook {_label(func)}{signature} must accept one argument "
        "(the process) or none"
    )


def _plugin_for(hook_name: str, func: Callable[..., Any]) -> Any:
    """A plugin object whose only hookimpl is ``hook_name``, calling ``func``."""
    if _takes_process(func):
        def impl(process: Any) -> None:
            func(process)
    else:
        def impl(process: Any) -> None:
            func()
    impl.__name__ = impl.__qualname__ = hook_name
    return types.SimpleNamespace(**{hook_name: hookimpl(impl)}, dj_queue_hook_name=hook_name)


def _decorator(name: str) -> Callable[[F], F]:
    def decorator(func: F) -> F:
        return register_hook(name, func)

    decorator.__name__ = "on_" + name.replace("supervisor.", "").replace(".", "_")
    decorator.__doc__ = f"Run the decorated callable on ``{name}`` (it receives the ProcessInfo, or nothing)."
    return decorator


on_start = _decorator("supervisor.start")
on_stop = _decorator("supervisor.stop")
on_exit = _decorator("supervisor.exit")
on_worker_start = _decorator("worker.start")
on_worker_stop = _decorator("worker.stop")
on_worker_exit = _decorator("worker.exit")
on_dispatcher_start = _decorator("dispatcher.start")
on_dispatcher_stop = _decorator("dispatcher.stop")
on_dispatcher_exit = _decorator("dispatcher.exit")
on_scheduler_start = _decorator("scheduler.start")
on_scheduler_stop = _decorator("scheduler.stop")
on_scheduler_exit = _decorator("scheduler.exit")

plugins.add_build_callback(_register_all)
