"""dj_queue's exceptions. Job-level errors recorded on failed jobs live here too."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from dj_queue.compat import InvalidTask


class EnqueueError(InvalidTask):
    """A job cannot be enqueued: bad arguments, payload too large, bad concurrency settings.

    A subclass of Django's ``InvalidTask`` so both ``except`` forms work.
    """


class EnqueueVetoed(EnqueueError):
    """A ``should_enqueue`` check (the task's, or a ``dj_queue_should_enqueue`` plugin's) refused
    the call; nothing was written."""


class UndiscardableError(Exception):
    """Raised when asked to discard jobs that are being executed right now."""


class TaskResolutionError(Exception):
    """A worker refused to run a job: unknown, unimportable or disallowed task path."""


class ProcessExitError(Exception):
    """The supervised process holding the job exited unexpectedly."""


class ProcessPrunedError(Exception):
    """The process holding the job stopped heartbeating and was pruned."""


class ProcessMissingError(Exception):
    """The job was claimed by a process whose row no longer exists."""


class OutcomeLostError(Exception):
    """The worker holding the job lost the record of its attempt: a turn failed and the database
    kept the claim but not what became of it (see ``synchronous_turns``)."""


class JobTimeoutError(Exception):
    """The job's attempt ran past its deadline (``@timeout`` or ``OPTIONS["timeout"]``)."""


class JobCancelledError(Exception):
    """The job was cancelled (``dj_queue.api.cancel``) before or while it ran."""


class NotCancellableError(Exception):
    """``cancel()`` was asked for a job that already finished."""


class ConcurrencyLimitDiscarded(Exception):
    """The job was dropped because its concurrency key was at its limit (``on_conflict='discard'``)."""


class ConfigurationError(ImproperlyConfigured):
    """dj_queue's configuration is invalid."""
