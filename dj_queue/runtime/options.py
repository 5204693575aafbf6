"""The options a runtime starts with; the layering lives in ``dj_queue.config``.

Kept so ``from dj_queue.runtime.options import load_options`` (embedded runtimes, examples) works.
"""

from __future__ import annotations

from dj_queue.config import LoadedOptions, load_options, read_yaml, resolve_options, settings_options

__all__ = ["LoadedOptions", "load_options", "read_yaml", "resolve_options", "settings_options"]
