"""The options a runtime starts with: settings, then a ``--config`` YAML file, then CLI flags.

(Environment overrides arrive with the configuration issue; this may move into ``config.py``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dj_queue import config
from dj_queue.exceptions import ConfigurationError


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
        raise ConfigurationError(f"dj_queue: config file {path} must hold a mapping, not {type(data).__name__}")
    return data


def settings_options(alias: str) -> dict[str, Any]:
    """The raw ``OPTIONS`` of ``TASKS[alias]``."""
    from django.conf import settings

    params = (getattr(settings, "TASKS", {}) or {}).get(alias)
    if params is None:
        raise ConfigurationError(f"dj_queue: no TASKS backend named {alias!r}")
    return dict(params.get("OPTIONS") or {})


def load_options(alias: str = "default", config_path: str | Path | None = None, mode: str | None = None,
                 skip_recurring: bool | None = None) -> dict[str, Any]:
    """Validated options for a runtime of ``alias``; later sources override earlier ones.

    The result also carries ``skip_recurring`` (a runtime flag, not a settings key).
    """
    raw = settings_options(alias)
    where = f"TASKS[{alias!r}]['OPTIONS']"
    if config_path is not None:
        raw.update(read_yaml(config_path))
        where = f"{where} + {config_path}"
    if mode is not None:
        raw["mode"] = mode
    options = config.validate(raw, where=where)
    options["skip_recurring"] = bool(skip_recurring)
    return options
