"""The plugin manager: hookspecs, core defaults, entry-point plugins and typed getters.

Plugins are discovered through the ``dj_queue`` entry-point group, first-party ones included.
A plugin that fails to import is logged and skipped, never fatal. Names listed in any backend's
``OPTIONS["plugins"]["disable"]`` or in ``DJ_QUEUE_DISABLE_PLUGINS`` (comma separated) are blocked.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from dj_queue import hookspecs
from dj_queue.types import Dialect, Waker

logger = logging.getLogger("dj_queue.plugins")

ENTRY_POINT_GROUP = "dj_queue"
# Core defaults are plugins too, registered first and answering ``trylast``.
DEFAULT_PLUGINS = ("dj_queue.defaults",)

_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
# Called with every newly built manager, e.g. to put dj_queue.hooks' decorator hooks back on it.
_build_callbacks: list[Callable[[pluggy.PluginManager], None]] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, building it on first use."""
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                _manager = _build_manager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the manager (tests, settings changes); the next call rebuilds it."""
    global _manager
    with _lock:
        _manager = None
        _dialects.clear()


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, refusing plain implementations of the wrapper-only hooks.

    A plain ``dj_queue_execute`` (such as the old first-result ``(job, call)`` form) would run
    instead of the task or beside it, so it is refused with one clear line rather than pluggy's
    argument mismatch.
    """

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        if self.is_blocked(name or self.get_canonical_name(plugin)):
            return None  # a disabled plugin is never looked at, valid or not
        for hook_name in hookspecs.WRAPPER_ONLY:
            opts = self.parse_hookimpl_opts(plugin, hook_name)
            if opts is not None and not (opts.get("wrapper") or opts.get("hookwrapper")):
                raise pluggy.PluginValidationError(plugin, (
                    f"dj_queue: plugin {name or self.get_canonical_name(plugin)!r} implements "
                    f"{hook_name} without wrapper=True; write it as a @dj_queue.hookimpl(wrapper=True) "
                    "generator that yields to run the task (see docs/hooks.md)"
                ))
        return super().register(plugin, name=name)


def _build_manager() -> pluggy.PluginManager:
    pm = PluginManager("dj_queue")
    pm.add_hookspecs(hookspecs)
    disabled = disabled_plugin_names()
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in disabled or pm.has_plugin(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception:
            logger.exception("dj_queue: plugin %r failed to load and is skipped", ep.name)
    for name in disabled:
        pm.set_blocked(name)
    for callback in list(_build_callbacks):
        callback(pm)
    if os.environ.get("DJ_QUEUE_TRACE_HOOKS") == "1":
        pm.trace.root.setwriter(logger.debug)
        pm.enable_tracing()
    return pm


def disabled_plugin_names() -> set[str]:
    """Plugin names blocked by ``DJ_QUEUE_DISABLE_PLUGINS`` or any backend's ``plugins.disable``."""
    names = {n.strip() for n in os.environ.get("DJ_QUEUE_DISABLE_PLUGINS", "").split(",") if n.strip()}
    try:
        from django.conf import settings

        tasks = getattr(settings, "TASKS", {}) or {}
    except Exception:  # settings not configured: only the environment counts
        return names
    for params in tasks.values():
        options = (params.get("OPTIONS") or {}) if isinstance(params, dict) else {}
        plugins = (options.get("plugins") or {}) if isinstance(options, dict) else {}  # else: dj_queue.E003
        disable = plugins.get("disable", []) if isinstance(plugins, dict) else []
        if isinstance(disable, (list, tuple)):  # anything else (a bare string) is reported by dj_queue.E003
            names.update(name for name in disable if isinstance(name, str))
    return names


def add_build_callback(callback: Callable[[pluggy.PluginManager], None]) -> None:
    """Call ``callback(manager)`` on every manager built from now on (after a reset too)."""
    with _lock:
        if callback not in _build_callbacks:
            _build_callbacks.append(callback)


def register(plugin: Any, name: str | None = None) -> str | None:
    """Register a plugin object (module or instance) at runtime, e.g. from ``AppConfig.ready``."""
    return get_plugin_manager().register(plugin, name=name)


def call_safely(
    hook_name: str, on_error: Callable[[BaseException], Any] | None = None, **kwargs: Any
) -> None:
    """Call every implementation of a fan-out hook in registration order, isolating failures.

    pluggy alone stops at the first exception and calls newest-first; lifecycle hooks must not let
    one faulty plugin silence the others, so each implementation is called on its own.
    """
    hook = getattr(get_plugin_manager().hook, hook_name)
    for impl in _in_call_order(hook.get_hookimpls()):
        try:
            impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as exc:
            logger.exception("dj_queue: hook %s in plugin %r failed", hook_name, impl.plugin_name)
            if on_error is not None:
                try:
                    on_error(exc)
                except Exception:
                    logger.exception("dj_queue: on_thread_error itself failed")


def _in_call_order(impls: list) -> list:
    """tryfirst, then plain (registration order), then trylast; wrappers do not apply here."""
    plain = [i for i in impls if not (i.hookwrapper or getattr(i, "wrapper", False))]
    return sorted(plain, key=lambda i: 0 if i.tryfirst else (2 if i.trylast else 1))


_dialects: dict[str, Any] = {}


def get_dialect(using: str = "default") -> Dialect:
    """Return the ``Dialect`` for the database alias ``using`` (cached per alias)."""
    dialect = _dialects.get(using)
    if dialect is None:
        from django.db import connections

        dialect = get_plugin_manager().hook.dj_queue_dialect(connection=connections[using])
        _dialects[using] = dialect
    return dialect


def get_waker(backend: Any) -> Waker:
    """Return the ``Waker`` workers of ``backend`` wait on."""
    return get_plugin_manager().hook.dj_queue_waker(backend=backend)
