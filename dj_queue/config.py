"""dj_queue's options: defaults, merging and validation.

``TASKS[alias]["OPTIONS"]`` is merged over ``DEFAULTS``. Unknown keys and wrong types are errors
naming the nearest valid key. (YAML files, environment variables and CLI flags layer on top in
``load_options``.)
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

from dj_queue.exceptions import ConfigurationError

WORKER_DEFAULTS: dict[str, Any] = {"queues": "*", "threads": 3, "processes": 1, "polling_interval": 0.1}
DISPATCHER_DEFAULTS: dict[str, Any] = {
    "batch_size": 500,
    "polling_interval": 1,
    "concurrency_maintenance": True,
    "concurrency_maintenance_interval": 600,
}
SCHEDULER_DEFAULTS: dict[str, Any] = {"dynamic_tasks_enabled": False, "polling_interval": 5}

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
    "silence_polling": True,
    "process_heartbeat_interval": 60,
    "process_alive_threshold": 300,
    "shutdown_timeout": 5,
    "supervisor_pidfile": None,
    "on_thread_error": None,
    "max_payload_bytes": 1048576,
    "task_modules": None,
    "plugins": {},
}

MODES = ("fork", "async")
_NUMBER = (int, float)
# Expected types per key; ``None`` in the tuple means the key may be null.
TYPES: dict[str, tuple] = {
    "mode": (str,),
    "workers": (list,),
    "dispatchers": (list,),
    "scheduler": (dict,),
    "recurring": (dict,),
    "database_alias": (str,),
    "preserve_finished_jobs": (bool,),
    "clear_finished_jobs_after": (*_NUMBER, type(None)),
    "clear_failed_jobs_after": (*_NUMBER, type(None)),
    "clear_recurring_executions_after": (*_NUMBER, type(None)),
    "use_skip_locked": (bool,),
    "listen_notify": (bool,),
    "silence_polling": (bool,),
    "process_heartbeat_interval": _NUMBER,
    "process_alive_threshold": _NUMBER,
    "shutdown_timeout": _NUMBER,
    "supervisor_pidfile": (str, type(None)),
    "on_thread_error": (str, type(None)),
    "max_payload_bytes": (int,),
    "task_modules": (list, tuple, type(None)),
    "plugins": (dict,),
}


def _unknown(key: str, valid: Any, where: str) -> ConfigurationError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigurationError(f"dj_queue: unknown option {key!r} in {where}{hint}")


def _check_mapping(values: dict, defaults: dict, where: str) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if key not in defaults:
            raise _unknown(key, defaults, where)
        merged[key] = value
    return merged


def validate(options: dict[str, Any], where: str = "OPTIONS") -> dict[str, Any]:
    """Return ``options`` merged over the defaults, or raise ``ConfigurationError``."""
    if not isinstance(options, dict):
        raise ConfigurationError(f"dj_queue: {where} must be a mapping, got {type(options).__name__}")
    merged = _check_mapping(options, DEFAULTS, where)
    for key, value in merged.items():
        if isinstance(value, bool) and bool not in TYPES[key] and _NUMBER[0] in TYPES[key]:
            raise ConfigurationError(f"dj_queue: {where}[{key!r}] must be a number, got a bool")
        if not isinstance(value, TYPES[key]):
            names = "/".join("null" if t is type(None) else t.__name__ for t in TYPES[key])
            raise ConfigurationError(
                f"dj_queue: {where}[{key!r}] must be {names}, got {type(value).__name__} {value!r}"
            )
    if merged["mode"] not in MODES:
        raise ConfigurationError(f"dj_queue: {where}['mode'] must be one of {MODES}, got {merged['mode']!r}")
    merged["workers"] = [
        _check_mapping(w, WORKER_DEFAULTS, f"{where}['workers'][{i}]") for i, w in enumerate(merged["workers"])
    ]
    merged["dispatchers"] = [
        _check_mapping(d, DISPATCHER_DEFAULTS, f"{where}['dispatchers'][{i}]")
        for i, d in enumerate(merged["dispatchers"])
    ]
    merged["scheduler"] = _check_mapping(merged["scheduler"], SCHEDULER_DEFAULTS, f"{where}['scheduler']")
    for worker in merged["workers"]:
        worker["queues"] = normalize_queues(worker["queues"])
    return merged


def normalize_queues(queues: str | list[str]) -> list[str]:
    """``"a, b*"`` or ``["a", "b*"]`` -> ``["a", "b*"]``, order kept."""
    if isinstance(queues, str):
        queues = queues.split(",")
    return [q.strip() for q in queues if q and q.strip()] or ["*"]


def backend_options(alias: str = "default") -> dict[str, Any]:
    """The validated options of the ``TASKS`` alias ``alias``."""
    from django.conf import settings

    params = (getattr(settings, "TASKS", {}) or {}).get(alias)
    if params is None:
        raise ConfigurationError(f"dj_queue: no TASKS backend named {alias!r}")
    return validate(params.get("OPTIONS") or {}, where=f"TASKS[{alias!r}]['OPTIONS']")


def database_for(backend_alias: str = "default") -> str:
    """The database alias holding the queue tables of backend ``backend_alias``."""
    return backend_options(backend_alias)["database_alias"]
