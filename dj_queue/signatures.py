"""Whether an enqueue's arguments fit its task's function, checked when enqueueing.

A call the worker could not make (a missing or an extra argument, an unknown keyword) is refused
with ``EnqueueError`` at once instead of failing the job later with a ``TypeError``. Reading a
signature costs about 10 µs and binding one 2-5 µs, so each function's shape is read once, a call
of positional arguments is checked by counting them, and a call with keywords is bound once per
shape (its number of positional arguments and its keyword names) and remembered as fitting.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from dj_queue.exceptions import EnqueueError

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
# (function, takes_context) -> (fewest positional arguments, most, the signature to bind or None)
_shapes: dict[tuple[Any, bool], tuple[int, float, inspect.Signature | None]] = {}
# Calls with keywords known to fit: (function, takes_context, positional count, keyword names).
_fitting: set[tuple[Any, bool, int, frozenset]] = set()


def check_call(task: Any, args: Any, kwargs: dict) -> None:
    """``EnqueueError`` when ``task.func`` cannot be called with ``args`` and ``kwargs``."""
    takes_context = bool(getattr(task, "takes_context", False))
    shape = _shapes.get((task.func, takes_context))
    if shape is None:
        shape = _shapes[(task.func, takes_context)] = _shape(task.func, takes_context)
    fewest, most, signature = shape
    if signature is None or (not kwargs and fewest <= len(args) <= most):
        return
    call = (task.func, takes_context, len(args), frozenset(kwargs))
    if call in _fitting:  # whether a call fits depends only on its shape, not on the values
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise EnqueueError(f"dj_queue: cannot enqueue {task.module_path}: {exc}; the worker would call "
                           f"{task.func.__name__}{signature}") from None
    if len(_fitting) < 10_000:  # bounded: a caller inventing keyword names cannot grow it forever
        _fitting.add(call)


def _shape(func: Any, takes_context: bool) -> tuple[int, float, inspect.Signature | None]:
    try:
        # The function the worker calls: a decorator's wrapper, not what functools.wraps names.
        signature = inspect.signature(func, follow_wrapped=False)
    except (TypeError, ValueError):  # no signature to read: the worker will tell
        return 0, math.inf, None
    params = list(signature.parameters.values())
    if takes_context:
        params = params[1:]  # the worker passes the context, not the enqueue
    positional = [p for p in params if p.kind in _POSITIONAL]
    fewest = sum(p.default is p.empty for p in positional)
    most: float = len(positional)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        most = math.inf
    if any(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty for p in params):
        most = -1  # a required keyword-only argument: always bind
    return fewest, most, signature.replace(parameters=params)
