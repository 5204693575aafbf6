"""What the state transitions announce: hooks after commit, ready queues, in-process wakeups.

Every transition in ``dj_queue.operations`` that makes jobs ready calls ``announce_ready`` inside
its transaction (``dj_queue_jobs_ready``: the NOTIFY of the notify plugin) and
``notify_after_commit`` for this process's workers; job hooks fire through ``after_commit``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Iterable

from django.db import transaction
from django.utils.module_loading import import_string

from dj_queue import plugins
from dj_queue.dialects import backend_option
from dj_queue import wakeup

logger = logging.getLogger("dj_queue.operations")


def after_commit(using: str, backend_alias: str, hook_name: str, **kwargs: Any) -> None:
    """Fire a fan-out hook once the surrounding transaction commits (at once in autocommit)."""
    on_error = thread_error_handler(backend_alias)
    transaction.on_commit(
        functools.partial(plugins.call_safely, hook_name, on_error, **kwargs), using=using
    )


def jobs_created(using: str, backend_alias: str, jobs: list) -> None:
    """Fire ``dj_queue_jobs_created`` after commit, only when some plugin implements it."""
    if jobs and plugins.get_plugin_manager().hook.dj_queue_jobs_created.get_hookimpls():
        call = functools.partial(plugins.call_safely, "dj_queue_jobs_created", thread_error_handler(backend_alias),
                                 backend_alias=backend_alias, jobs=jobs)
        transaction.on_commit(call, using=using)


def thread_error_handler(backend_alias: str) -> Callable[[BaseException], Any] | None:
    """Return the backend's ``on_thread_error`` callable, or ``None``."""
    path = backend_option(backend_alias, "on_thread_error")
    if not path:
        return None
    try:
        return _import(path)
    except ImportError:
        logger.exception("dj_queue: on_thread_error %r cannot be imported", path)
        return None


@functools.lru_cache(maxsize=16)
def _import(path: str) -> Callable[[BaseException], Any]:
    return import_string(path)


def announce_ready(backend_alias: str, using: str, queue_names: Iterable[str]) -> None:
    """Call ``dj_queue_jobs_ready`` inside the caller's transaction, if any plugin implements it."""
    hook = plugins.get_plugin_manager().hook.dj_queue_jobs_ready
    # Checked per call, not cached: plugins may be registered at runtime.
    if hook.get_hookimpls():
        hook(backend_alias=backend_alias, using=using, queue_names=sorted(set(queue_names)))


def announcement_sql(backend_alias: str, using: str, queue_names: Iterable[str]) -> list[tuple[str, list]] | None:
    """``dj_queue_jobs_ready`` as SQL expressions (``dj_queue_jobs_ready_sql``) for a one-statement write.

    None when a plugin implements ``dj_queue_jobs_ready`` without the SQL companion: it must be
    called as usual, inside the transaction.
    """
    pm = plugins.get_plugin_manager()
    direct = {id(impl.plugin) for impl in pm.hook.dj_queue_jobs_ready.get_hookimpls()}
    if not direct:
        return []
    companions = pm.hook.dj_queue_jobs_ready_sql
    if not direct <= {id(impl.plugin) for impl in companions.get_hookimpls()}:
        return None
    return [sql for sql in companions(backend_alias=backend_alias, using=using,
                                      queue_names=sorted(set(queue_names))) if sql]


def notify_after_commit(backend_alias: str, queue_names: set[str] | None, using: str) -> None:
    """Wake workers of ``queue_names`` (None: every queue) in this process and, through
    ``dj_queue_jobs_enqueued``, other processes, once the transaction commits."""
    # robust: the jobs are committed by then; a failed wakeup only costs a polling interval.
    transaction.on_commit(lambda: wakeup.notify_enqueued(backend_alias, queue_names), using=using, robust=True)
