"""dj_queue's options: defaults, validation, and the layers a runtime starts from.

``TASKS[alias]["OPTIONS"]`` is merged over ``DEFAULTS``. A runtime layers more on top, each layer
winning over the ones before it: settings < YAML file < environment < CLI flags. Unknown keys
and wrong types are ``ConfigurationError``s naming their source, the key path and the nearest
valid key.
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from django.core.signals import setting_changed

from dj_queue.exceptions import ConfigurationError
from dj_queue.ratelimits import parse_rate
from dj_queue.serialization import describe_type

# ``max_jobs_per_process`` / ``max_memory_mb``: recycle a worker past either limit (null: never).
# ``rate_limit``: "JOBS/SECONDS", at most that many jobs started by the worker per window (null: none).
WORKER_DEFAULTS: dict[str, Any] = {"queues": "*", "threads": 3, "processes": 1, "polling_interval": 0.1,
                                   "max_jobs_per_process": None, "max_memory_mb": None, "rate_limit": None}
DISPATCHER_DEFAULTS: dict[str, Any] = {
    "batch_size": 500,
    "polling_interval": 1,
    "concurrency_maintenance": True,
    "concurrency_maintenance_interval": 600,
}
SCHEDULER_DEFAULTS: dict[str, Any] = {"dynamic_tasks_enabled": False, "polling_interval": 5}
# No retries by default, as Django's own backends: a task opts in with ``@retry``.
RETRY_DEFAULTS: dict[str, Any] = {"max_attempts": 1, "backoff": None, "retry_on": None}
DELIVERIES = ("at_least_once", "at_most_once")
LOG_FORMATS = ("text", "json")

DEFAULTS: dict[str, Any] = {
    "mode": "fork",
    "workers": [WORKER_DEFAULTS],
    "dispatchers": [DISPATCHER_DEFAULTS],
    "scheduler": SCHEDULER_DEFAULTS,
    "recurring": {},
    "database_alias": "default",
    "preserve_finished_jobs": True,
    "clear_finished_jobs_after": 86400,
    "clear_failed_jobs_after": None,
    "clear_recurring_executions_after": None,
    "use_skip_locked": True,
    "listen_notify": True,
    # A direct DATABASES alias for the LISTEN connection when database_alias goes through a pooler.
    "notify_database_alias": None,
    "local_wakeup": True,
    # False: a worker's turn commits without waiting for its WAL flush (PostgreSQL only).
    "synchronous_turns": True,
    "silence_polling": True,
    "process_heartbeat_interval": 60,
    "process_alive_threshold": 300,
    "shutdown_timeout": 5,
    "supervisor_pidfile": None,
    "on_thread_error": None,
    "max_payload_bytes": 1048576,
    "task_modules": None,
    "plugins": {},
    "retry": RETRY_DEFAULTS,
    "timeout": None,
    "timeout_grace": 5,
    "delivery": "at_least_once",
    "crash_limit": 3,
    "log_format": "text",
    "redact_keys": [],
}
# Defaults of the entries of list options (``workers``) and of mapping options (``scheduler``).
SECTIONS: dict[str, dict[str, Any]] = {
    "workers": WORKER_DEFAULTS,
    "dispatchers": DISPATCHER_DEFAULTS,
    "scheduler": SCHEDULER_DEFAULTS,
    "retry": RETRY_DEFAULTS,
}

MODES = ("fork", "async")
_NUMBER = (int, float)
_NULL = type(None)
# Expected types per key; ``NoneType`` in the tuple means the key may be null.
TYPES: dict[str, tuple] = {
    "mode": (str,),
    "workers": (list,),
    "dispatchers": (list,),
    "scheduler": (dict,),
    "recurring": (dict,),
    "database_alias": (str,),
    "preserve_finished_jobs": (bool,),
    "clear_finished_jobs_after": (*_NUMBER, _NULL),
    "clear_failed_jobs_after": (*_NUMBER, _NULL),
    "clear_recurring_executions_after": (*_NUMBER, _NULL),
    "use_skip_locked": (bool,),
    "listen_notify": (bool,),
    "notify_database_alias": (str, _NULL),
    "local_wakeup": (bool,),
    "synchronous_turns": (bool,),
    "silence_polling": (bool,),
    "process_heartbeat_interval": _NUMBER,
    "process_alive_threshold": _NUMBER,
    "shutdown_timeout": _NUMBER,
    "supervisor_pidfile": (str, _NULL),
    "on_thread_error": (str, _NULL),
    "max_payload_bytes": (int,),
    "task_modules": (list, tuple, _NULL),
    "plugins": (dict,),
    "disable": (list, tuple),
    "queues": (str, list),
    "threads": (int,),
    "processes": (int,),
    "polling_interval": _NUMBER,
    "max_jobs_per_process": (int, _NULL),
    "max_memory_mb": (*_NUMBER, _NULL),
    "rate_limit": (str, _NULL),
    "batch_size": (int,),
    "concurrency_maintenance": (bool,),
    "concurrency_maintenance_interval": _NUMBER,
    "dynamic_tasks_enabled": (bool,),
    "retry": (dict,),
    "max_attempts": (int,),
    "backoff": (*_NUMBER, str, _NULL),
    "retry_on": (list, tuple, _NULL),
    "timeout": (*_NUMBER, _NULL),
    "timeout_grace": _NUMBER,
    "delivery": (str,),
    "crash_limit": (int,),
    "log_format": (str,),
    "redact_keys": (list, tuple),
}
# A zero thread count or interval would stall or spin the runtime; a negative age means nothing.
POSITIVE = {"threads", "processes", "batch_size", "polling_interval", "concurrency_maintenance_interval",
            "process_heartbeat_interval", "process_alive_threshold", "max_payload_bytes", "max_attempts",
            "timeout", "crash_limit", "max_jobs_per_process", "max_memory_mb"}
NON_NEGATIVE = {"shutdown_timeout", "timeout_grace", "backoff", "clear_finished_jobs_after", "clear_failed_jobs_after",
                "clear_recurring_executions_after"}

ENV_CONFIG, ENV_MODE, ENV_SKIP_RECURRING = "DJ_QUEUE_CONFIG", "DJ_QUEUE_MODE", "DJ_QUEUE_SKIP_RECURRING"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class _Where:
    """A source (settings, a file, a flag) and a key path inside it, for error messages."""

    source: str
    path: str = ""

    def at(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(self.source, f"{self.path}[{key}]")
        return _Where(self.source, f"{self.path}.{key}" if self.path else key)

    def error(self, message: str) -> ConfigurationError:
        return ConfigurationError(f"dj_queue: {self.source}: {message}")


def _unknown(key: Any, valid: Mapping[str, Any], where: _Where) -> ConfigurationError:
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    inside = f" in {where.path}" if where.path else ""
    return where.error(f"unknown option {key!r}{inside}{hint}")


def _type_names(types: tuple) -> str:
    return "/".join("null" if t is _NULL else t.__name__ for t in types)


def _check_value(key: str, value: Any, where: _Where) -> None:
    types, here = TYPES[key], where.at(key)
    # bool is an int subclass, so ``threads: true`` would otherwise pass as 1.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise here.error(f"{here.path} must be {_type_names(types)}, got {type(value).__name__} {value!r}")
    if key == "disable" and not all(isinstance(name, str) and name.strip() for name in value):
        raise here.error(f"{here.path} must list plugin names (strings), got {value!r}")
    if key == "plugins":
        _check_plugins(value, here)
    if key == "rate_limit" and value is not None:
        try:
            parse_rate(value)
        except ValueError as exc:
            raise here.error(f"{here.path}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return
    if key in POSITIVE and value <= 0:
        raise here.error(f"{here.path} must be greater than 0, got {value!r}")
    if key in NON_NEGATIVE and value < 0:
        raise here.error(f"{here.path} must not be negative, got {value!r}")


def _check_plugins(value: dict, where: _Where) -> None:
    """``plugins`` holds ``disable`` and, under any other key, a mapping of one plugin's own settings."""
    for name, entry in value.items():
        if name == "disable":
            _check_value("disable", entry, where)
        elif not isinstance(entry, dict):
            close = difflib.get_close_matches(str(name), ["disable"], n=1)
            hint = "; did you mean 'disable'?" if close else ""
            raise where.error(f"{where.path}.{name} must be a mapping (a plugin's own settings), got "
                              f"{type(entry).__name__} {entry!r}{hint}")


def _check_mapping(values: Any, valid: Mapping[str, Any], where: _Where) -> None:
    if not isinstance(values, dict):
        what = where.path or "the options"
        raise where.error(f"{what} must be a mapping, got {type(values).__name__} {values!r}")
    for key, value in values.items():
        if key not in valid:
            raise _unknown(key, valid, where)
        _check_value(key, value, where)
        if key in SECTIONS:
            entries = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, entry in entries:
                inner = where.at(key) if index is None else where.at(key).at(index)
                _check_mapping(entry, SECTIONS[key], inner)
    if values.get("mode", MODES[0]) not in MODES:
        raise where.at("mode").error(f"mode must be one of {', '.join(MODES)}, got {values['mode']!r}")
    if values.get("delivery", DELIVERIES[0]) not in DELIVERIES:
        raise where.at("delivery").error(
            f"delivery must be one of {', '.join(DELIVERIES)}, got {values['delivery']!r}")
    if values.get("log_format", LOG_FORMATS[0]) not in LOG_FORMATS:
        raise where.at("log_format").error(
            f"log_format must be one of {', '.join(LOG_FORMATS)}, got {values['log_format']!r}")


def check(options: Any, where: str = "OPTIONS") -> None:
    """Raise ``ConfigurationError`` for an unknown key or a wrong value in ``options`` (a partial layer)."""
    _check_mapping(options, DEFAULTS, _Where(where))


def validate(options: dict[str, Any], where: str = "OPTIONS") -> dict[str, Any]:
    """Return ``options`` merged over the defaults, or raise ``ConfigurationError``."""
    check(options, where)
    merged = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(options)}
    merged["workers"] = [{**WORKER_DEFAULTS, **w} for w in merged["workers"]]
    merged["dispatchers"] = [{**DISPATCHER_DEFAULTS, **d} for d in merged["dispatchers"]]
    merged["scheduler"] = {**SCHEDULER_DEFAULTS, **merged["scheduler"]}
    merged["retry"] = {**RETRY_DEFAULTS, **merged["retry"]}
    for worker in merged["workers"]:
        worker["queues"] = normalize_queues(worker["queues"])
    return merged


def normalize_queues(queues: str | list[str]) -> list[str]:
    """``"a, b*"`` or ``["a", "b*"]`` -> ``["a", "b*"]``, order kept."""
    if isinstance(queues, str):
        queues = queues.split(",")
    return [q.strip() for q in queues if q and q.strip()] or ["*"]


def settings_options(alias: str) -> dict[str, Any]:
    """The raw ``OPTIONS`` of ``TASKS[alias]``."""
    from django.conf import settings

    params = (getattr(settings, "TASKS", {}) or {}).get(alias)
    if params is None:
        raise ConfigurationError(f"dj_queue: no TASKS backend named {alias!r}")
    options = params.get("OPTIONS") or {}
    if not isinstance(options, dict):
        check(options, where=f"TASKS[{alias!r}]['OPTIONS']")  # raises: the options must be a mapping
    return dict(options)


# Options a runtime of this process started with (YAML, environment, flags included), so code
# that looks a backend's options up by alias (dialects, notify, completion) agrees with its actors.
_runtime_options: dict[str, dict[str, Any]] = {}


# Validated options per alias, for the per-job paths (validating the whole mapping each time is
# too slow). Cleared when TASKS changes or a runtime activates its own options.
_cache: dict[str, dict[str, Any]] = {}


def backend_options(alias: str = "default") -> dict[str, Any]:
    """The validated options of the ``TASKS`` alias ``alias`` (as activated by a runtime, if any)."""
    return copy.deepcopy(cached_options(alias))


def cached_options(alias: str = "default") -> dict[str, Any]:
    """Like ``backend_options`` but shared and cached: read it, never change it."""
    options = _cache.get(alias)
    if options is None:
        if alias in _runtime_options:
            options = _runtime_options[alias]
        else:
            options = validate(settings_options(alias), where=f"TASKS[{alias!r}]['OPTIONS']")
        _cache[alias] = options
    return options


def _forget_options(*, setting: str, **kwargs: Any) -> None:
    if setting == "TASKS":
        _cache.clear()


setting_changed.connect(_forget_options, dispatch_uid="dj_queue.config.forget_options")


def activate(alias: str, options: dict[str, Any] | None) -> None:
    """Make ``options`` what ``backend_options(alias)`` returns in this process; ``None`` undoes it."""
    if options is None:
        _runtime_options.pop(alias, None)
    else:
        _runtime_options[alias] = {k: v for k, v in options.items() if k != "skip_recurring"}
    _cache.pop(alias, None)


def database_for(backend_alias: str = "default") -> str:
    """The database alias holding the queue tables of backend ``backend_alias``."""
    return backend_options(backend_alias)["database_alias"]


# --- the layers a runtime starts from -----------------------------------------------------------


@dataclass(frozen=True)
class LoadedOptions:
    """Validated options and where they came from, lowest precedence first."""

    options: dict[str, Any]
    sources: tuple[str, ...]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file, or a ``ConfigurationError`` saying what is wrong."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"dj_queue: cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"dj_queue: config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"dj_queue: config file {path} must hold a mapping, not {describe_type(data)}")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings (``scheduler``, ``recurring``) merge key by key, lists replace."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def env_flag(name: str, value: str) -> bool:
    """Parse a boolean environment variable; anything unrecognised is an error, not False."""
    lowered = value.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ConfigurationError(
        f"dj_queue: {name} must be one of {'/'.join(_TRUE)} or {'/'.join(_FALSE)}, got {value!r}"
    )


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value.strip() or None if value is not None else None


def _yaml_layer(config_path: str | Path | None, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    origin = "--config"
    if config_path is None and _env(environ, ENV_CONFIG):
        config_path, origin = _env(environ, ENV_CONFIG), ENV_CONFIG
    if config_path is None:
        return {}, []
    layer = read_yaml(config_path)
    check(layer, f"config file {config_path}")
    return layer, [f"config file {config_path} ({origin})"]


def _mode_layer(mode: str | None, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    if mode is not None:
        source = f"argument mode={mode!r}"
    elif _env(environ, ENV_MODE):
        mode, source = _env(environ, ENV_MODE), f"env {ENV_MODE}={_env(environ, ENV_MODE)}"
    else:
        return {}, []
    check({"mode": mode}, source.split("=")[0])
    return {"mode": mode}, [source]


def _skip_layer(skip_recurring: bool | None, environ: Mapping[str, str]) -> tuple[bool, list[str]]:
    if skip_recurring is not None:
        return bool(skip_recurring), [f"argument skip_recurring={bool(skip_recurring)}"]
    value = _env(environ, ENV_SKIP_RECURRING)
    if value is None:
        return False, []
    return env_flag(ENV_SKIP_RECURRING, value), [f"env {ENV_SKIP_RECURRING}={value}"]


def resolve_options(alias: str = "default", *, config_path: str | Path | None = None, mode: str | None = None,
                    skip_recurring: bool | None = None, environ: Mapping[str, str] | None = None,
                    flags: Mapping[str, Any] | None = None) -> LoadedOptions:
    """Settings < YAML file < environment < arguments (CLI flags), validated, with the sources used.

    ``environ`` defaults to ``os.environ``; an empty variable counts as unset. ``flags`` are other
    option keys given on the command line (``--delivery``), applied last; ``None`` values are unset.
    """
    environ = os.environ if environ is None else environ
    settings_where = f"TASKS[{alias!r}]['OPTIONS']"
    raw = settings_options(alias)
    check(raw, settings_where)
    yaml_layer, yaml_sources = _yaml_layer(config_path, environ)
    mode_layer, mode_sources = _mode_layer(mode, environ)
    skip, skip_sources = _skip_layer(skip_recurring, environ)
    flag_layer = {key: value for key, value in (flags or {}).items() if value is not None}
    flag_sources = [f"flag --{key.replace('_', '-')}={value}" for key, value in flag_layer.items()]
    check(flag_layer, "command-line flags")
    sources = (f"settings {settings_where}", *yaml_sources, *mode_sources, *skip_sources, *flag_sources)
    options = validate(merge(merge(merge(raw, yaml_layer), mode_layer), flag_layer), where=" + ".join(sources))
    options["skip_recurring"] = skip
    return LoadedOptions(options, sources)


def load_options(alias: str = "default", *, config_path: str | Path | None = None, mode: str | None = None,
                 skip_recurring: bool | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validated options for a runtime of ``alias``; also carries ``skip_recurring`` (a runtime flag)."""
    return resolve_options(alias, config_path=config_path, mode=mode, skip_recurring=skip_recurring,
                           environ=environ).options
