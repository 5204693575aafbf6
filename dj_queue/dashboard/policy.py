"""A task's failure policy (``dj_queue.policies.Policy``) in words, for the job page."""

from __future__ import annotations

from dj_queue.policies import BACKOFF_BASE, BACKOFF_CAP, Policy


def describe_policy(policy: Policy) -> list[tuple[str, str]]:
    """(label, value) rows: attempts, backoff, retried errors, timeout, delivery, exactly once."""
    rows = [("Attempts allowed", _attempts(policy.max_attempts))]
    if policy.max_attempts > 1:
        rows += [("Backoff", _backoff(policy.backoff)),
                 ("Retried errors", ", ".join(_name(cls) for cls in policy.retry_on))]
    rows += [
        ("Timeout", f"{policy.timeout:g} s" if policy.timeout else "none"),
        ("Delivery", f"{policy.delivery.replace('_', ' ')}, crash limit {policy.crash_limit}"),
        ("Exactly once", f"yes, on database {policy.exactly_once!r}" if policy.exactly_once else "no"),
    ]
    return rows


def _attempts(count: int) -> str:
    return "1 (no retries)" if count == 1 else f"{count} ({count - 1} retries)"


def _backoff(backoff: object) -> str:
    if backoff is None:
        return f"exponential from {BACKOFF_BASE:g} s, at most {BACKOFF_CAP:g} s, with jitter"
    if callable(backoff):
        return f"computed by {_name(backoff)}"
    return f"{float(backoff):g} s between attempts"


def _name(obj: object) -> str:
    module, name = getattr(obj, "__module__", ""), getattr(obj, "__qualname__", repr(obj))
    return name if module == "builtins" else f"{module}.{name}"
