"""Which ``TASKS`` aliases use dj_queue, and which one a dashboard request is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from django.utils.module_loading import import_string

from dj_queue.config import backend_options


@dataclass(frozen=True)
class Backend:
    """One dj_queue backend as the dashboard sees it."""

    alias: str
    using: str
    options: dict[str, Any] = field(repr=False)
    choices: tuple[str, ...] = ()

    @property
    def alive_threshold(self) -> float:
        return float(self.options["process_alive_threshold"])


def queue_backends() -> list[str]:
    """``TASKS`` aliases whose backend is ``DjQueueBackend`` (or a subclass), in settings order."""
    from dj_queue.backend import DjQueueBackend

    aliases = []
    for alias, params in (getattr(settings, "TASKS", None) or {}).items():
        try:
            backend_class = import_string(params.get("BACKEND", ""))
        except ImportError:
            continue
        if isinstance(backend_class, type) and issubclass(backend_class, DjQueueBackend):
            aliases.append(alias)
    return aliases


def selected_backend(request: HttpRequest) -> Backend:
    """The backend named by ``?backend=`` (GET or POST), else the first dj_queue alias."""
    aliases = queue_backends()
    if not aliases:
        raise Http404("no TASKS backend uses dj_queue.backend.DjQueueBackend")
    alias = request.POST.get("backend") or request.GET.get("backend") or aliases[0]
    if alias not in aliases:
        raise Http404(f"{alias!r} is not a dj_queue backend (choose one of {', '.join(aliases)})")
    options = backend_options(alias)
    return Backend(alias=alias, using=options["database_alias"], options=options, choices=tuple(aliases))
