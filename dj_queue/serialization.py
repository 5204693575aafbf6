"""The JSON data contract: what may be stored as a job's arguments and return value.

Nothing is pickled. A value is accepted only if ``json.loads(json.dumps(value))`` gives it back
unchanged, except that tuples become lists (Django's task framework normalizes them the same way).
Checking up front turns a silent change of type (a set, a datetime, an int dict key) into a clear
error that names the offending value.
"""

from __future__ import annotations

import json
import math
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


class SerializationError(ValueError):
    """A value does not round-trip through JSON. ``path`` locates it, e.g. ``args[0]['when']``."""

    def __init__(self, what: str, path: str, problem: str) -> None:
        self.what = what
        self.path = path
        self.problem = problem
        super().__init__(f"{path} {problem}; {what} must round-trip through JSON")


def ensure_json_roundtrip(value: Any, what: str) -> Any:
    """Return ``value`` with tuples as lists, or raise ``SerializationError``.

    ``what`` names the value in messages and paths (``"args"``, ``"kwargs"``, ``"return value"``).
    """
    try:
        return _normalize(value, what, what)
    except RecursionError:
        raise SerializationError(what, what, "is nested too deeply (or refers to itself)") from None


def _normalize(value: Any, path: str, what: str) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return _check_scalar(value, path, what)
    if kind is list or kind is tuple:
        return [_normalize(item, f"{path}[{i}]", what) for i, item in enumerate(value)]
    if kind is dict:
        return {_check_key(key, path, what): _normalize(item, f"{path}[{key!r}]", what)
                for key, item in value.items()}
    raise SerializationError(what, path, f"is {describe_type(value)}, which JSON cannot represent")


def _check_scalar(value: Any, path: str, what: str) -> Any:
    if type(value) is float and not math.isfinite(value):
        raise SerializationError(what, path, f"is {value!r}, which is not valid JSON")
    if type(value) is str and not _storable(value):
        raise SerializationError(
            what, path, "is a string with a NUL character or a lone surrogate, which databases refuse"
        )
    return value


def _check_key(key: Any, path: str, what: str) -> str:
    # json.dumps turns 1, True and None keys into strings, so they would come back changed.
    if type(key) is not str:
        raise SerializationError(
            what, f"{path}[{key!r}]", f"has {describe_type(key)} key; keys must be str"
        )
    _check_scalar(key, f"{path}[{key!r}]", what)
    return key


def _storable(text: str) -> bool:
    # PostgreSQL's jsonb rejects \u0000; no database stores unpaired surrogates.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe_type(value: Any) -> str:
    """``value``'s type with its article: ``an int``, ``a set``, ``a decimal.Decimal``."""
    kind = type(value)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    return f"{_article(name)} {name}"


def _article(word: str) -> str:
    lowered = word.lower()
    # "u" sounds like "you" in uuid, user, unicode, unit; it is a vowel in undefined, unsigned.
    if lowered.startswith("u"):
        return "an" if lowered.startswith("un") and not lowered.startswith("uni") else "a"
    return "an" if lowered[:1] in ("a", "e", "i", "o") else "a"


def dumps(value: Any) -> str:
    """Serialize an already-checked value compactly, as sizes are measured."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_size(args: Any, kwargs: Any) -> int:
    """Bytes of the UTF-8 JSON encoding of ``args`` and ``kwargs`` together."""
    return len(dumps(args).encode("utf-8")) + len(dumps(kwargs).encode("utf-8"))


def encode(value: Any, what: str) -> tuple[Any, str, int]:
    """Check ``value`` as ``ensure_json_roundtrip`` does and encode it, with one ``json.dumps``
    in the common case.

    Returns ``(value, text, size)``: the value with tuples as lists, its compact ASCII JSON text
    (what a bulk enqueue stores) and the UTF-8 bytes of its compact JSON (what ``payload_size``
    counts). Values of plain types whose text needs no ``\\u`` escape skip the slow walk; anything
    else (tuples, other types, NaN, non-ASCII, NUL) takes it, so errors and sizes are the same.
    """
    kind = type(value)
    if not value and (kind is tuple or kind is list or kind is dict):  # no arguments: the usual call
        return ([] if kind is tuple else value), ("{}" if kind is dict else "[]"), 2
    if kind is tuple:  # Django's Task.enqueue(*args) passes a tuple: a list once stored
        value = list(value)
    try:
        text = _compact(value) if _plain(value) else None
    except (ValueError, RecursionError):
        text = None  # NaN or too deep: the walk below names the problem
    if text is not None and "\\u" not in text:
        return value, text, len(text)  # pure ASCII without escapes: the compact UTF-8 form itself
    value = ensure_json_roundtrip(value, what)
    text = json.dumps(value, separators=(",", ":"))
    return value, text, len(dumps(value).encode("utf-8"))


# One encoder for every call: json.dumps with options builds a new one each time.
_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when ``value`` holds only exact JSON types: lists, dicts with str keys and scalars."""
    kind = type(value)
    if kind is list:
        return all(type(item) in _SCALARS or _plain(item) for item in value)
    if kind is dict:
        return all(type(key) is str for key in value) and all(
            type(item) in _SCALARS or _plain(item) for item in value.values())
    return kind in _SCALARS
