"""``DjQueueBackend``: the django.tasks backend contract, on dj_queue's tables.

``TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": {}}}``
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from asgiref.sync import sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

# Before the models are imported: without the app, Django's own error names a model class and
# says nothing of the fix (and the system check that would, dj_queue.E001, is never reached).
if apps.apps_ready and not any(config.name == "dj_queue" for config in apps.get_app_configs()):
    raise ImproperlyConfigured("dj_queue: TASKS uses dj_queue.backend.DjQueueBackend but 'dj_queue' is not in "
                               "INSTALLED_APPS: add 'dj_queue' to INSTALLED_APPS and run migrate")

from dj_queue.compat import (
    BaseTaskBackend,
    Task,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from dj_queue.concurrency import resolve_key
from dj_queue.concurrency import settings_for as concurrency_settings
from dj_queue.checks import missing_tables_error, setup_checks
from dj_queue.config import validate
from dj_queue.exceptions import ConfigurationError, EnqueueError
from dj_queue.models import Job
from dj_queue.models.jobs import PRIORITY_MAX, PRIORITY_MIN
from dj_queue.operations.enqueue import JobSpec, enqueue_job, enqueue_jobs
from dj_queue.operations.unique import enqueue_unique, enqueue_unique_jobs
from dj_queue.policies import check_exactly_once, policy_for
from dj_queue.ratelimits import key_of as rate_limit_key
from dj_queue.ratelimits import settings_for as rate_limit_settings
from dj_queue.resolution import enqueue_refusal, remember_task
from dj_queue.results import NewResults, enqueued_result, job_pk, to_task_result
from dj_queue.serialization import SerializationError, describe_type, encode
from dj_queue.signatures import check_call
from dj_queue.task_hooks import check_enqueue, has_checks
from dj_queue.unique import resolve_key as unique_key
from dj_queue.unique import settings_for as unique_settings

_QUEUE_NAME_MAX = Job._meta.get_field("queue_name").max_length
_TASK_PATH_MAX = Job._meta.get_field("task_path").max_length


class DjQueueBackend(BaseTaskBackend):
    """Stores jobs in the database; ``python manage.py dj_queue`` runs them."""

    # Tasks with run_after wait in scheduled executions until dispatchers promote them.
    supports_defer = True

    # Coroutine tasks run in the worker through async_to_sync.
    supports_async_task = True

    # Any process can read a result back: status, return value and errors live in the database.
    supports_get_result = True

    # Workers claim higher priorities first within a queue.
    supports_priority = True

    # How dj_queue's system checks recognise its backends (subclasses included).
    is_dj_queue_backend = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)  # assigns ``self.options``: validated by the setter below
        self.params = params
        self._policies_checked: set[str] = set()
        # Tasks known to resolve in a worker, by (path, function): checked once per task.
        self._resolvable: set[tuple[str, Any]] = set()

    @property
    def options(self) -> dict[str, Any]:
        """The validated options; ``ConfigurationError`` (one line) when they are invalid."""
        if self.config_error is not None:
            raise ConfigurationError(str(self.config_error))
        return self._options

    @options.setter
    def options(self, raw: dict[str, Any] | None) -> None:
        # Django builds backends while loading settings and running checks; raising here would
        # turn an option typo into a traceback from check, migrate and runserver. The error waits
        # for the first real use, and ``manage.py check`` reports it (dj_queue.E003).
        self.config_error: ConfigurationError | None = None
        try:
            self._options = validate(raw or {}, where=f"TASKS[{self.alias!r}]['OPTIONS']")
        except ConfigurationError as exc:
            self.config_error, self._options = exc, {}

    @property
    def using(self) -> str:
        """The database alias holding this backend's queue tables."""
        return self.options["database_alias"]

    def validate_task(self, task: Task) -> None:
        """Apply Django's checks, then dj_queue's own limits (``EnqueueError``).

        Django calls this for every ``Task`` it creates, so it also notes tasks defined while
        Django starts: workers find those (see ``dj_queue.resolution``).
        """
        super().validate_task(task)
        remember_task(task)
        if len(task.queue_name) > _QUEUE_NAME_MAX:
            raise EnqueueError(
                f"dj_queue: queue name {task.queue_name!r} is longer than {_QUEUE_NAME_MAX} characters"
            )
        if len(task.module_path) > _TASK_PATH_MAX:
            raise EnqueueError(
                f"dj_queue: task path {task.module_path!r} is longer than {_TASK_PATH_MAX} characters"
            )
        if not PRIORITY_MIN <= task.priority <= PRIORITY_MAX:  # the column's own range
            raise EnqueueError(f"dj_queue: priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult:
        """Write the job now and return its result (status READY, real id).

        For a ``@unique`` task whose key a live job holds, nothing is written and that job's
        result is returned. A ``should_enqueue`` veto raises ``EnqueueVetoed``.
        """
        self.validate_task(task)
        self._check_resolvable(task)
        spec = self._spec(task, args, kwargs)
        check_enqueue(task, self.alias, spec.args, spec.kwargs)
        unique = unique_settings(task)
        try:
            if unique is not None:
                job, created = enqueue_unique(spec, unique_key(task, unique, spec.args, spec.kwargs), unique,
                                              backend_alias=self.alias, using=self.using)
                return self._enqueued(job, task) if created else to_task_result(job, self)
            job = enqueue_job(
                backend_alias=self.alias, using=self.using, task_path=spec.task_path,
                queue_name=spec.queue_name, priority=spec.priority, args=spec.args,
                kwargs=spec.kwargs, run_after=spec.run_after,
                concurrency_key=spec.concurrency_key, concurrency=spec.concurrency,
            )
        except DatabaseError:
            self._explain_database_error()
            raise
        return self._enqueued(job, task)

    def _explain_database_error(self) -> None:
        """Raise the "run migrate" error when the failed write met a database without the tables."""
        error = missing_tables_error(self.using)
        if error is not None:
            raise error from None

    def enqueue_all(
        self, calls: Iterable[tuple[Task, Sequence[Any], dict[str, Any]]]
    ) -> list[TaskResult]:
        """Enqueue many ``(task, args, kwargs)`` calls with bulk inserts, in one transaction.

        Every call is validated (and ``should_enqueue`` asked) before anything is written: one
        bad or vetoed call enqueues nothing. Calls of ``@unique`` tasks whose key is held, by a
        live job or by an earlier call of the batch, get that job's result.
        """
        calls = [self._unpack(index, call) for index, call in enumerate(calls)]
        checked: dict[int, Any] = {}  # per task object: its concurrency and unique settings, checks
        limit = self.options["max_payload_bytes"]
        specs, keys = [], []
        for task, args, kwargs in calls:
            if id(task) not in checked:  # a bulk usually repeats one task object: its checks run once
                self.validate_task(task)
                self._check_resolvable(task)
                self._check_policy(task)
                checked[id(task)] = (concurrency_settings(task), unique_settings(task), has_checks(task),
                                     rate_limit_settings(task))
            concurrency, unique, checks, rate = checked[id(task)]
            spec = self._row_spec(task, concurrency, limit, args, kwargs, rate=rate)
            if checks:
                check_enqueue(task, self.alias, spec.args, spec.kwargs)
            specs.append(spec)
            keys.append(None if unique is None else (unique_key(task, unique, spec.args, spec.kwargs), unique))
        make = NewResults(self.alias)
        try:
            if not any(keys):
                jobs = enqueue_jobs(specs, backend_alias=self.alias, using=self.using)
                return [self._enqueued(job, task, make) for job, (task, _, _) in zip(jobs, calls)]
            outcomes = enqueue_unique_jobs(specs, keys, backend_alias=self.alias, using=self.using)
        except DatabaseError:
            self._explain_database_error()
            raise
        return [self._enqueued(job, task, make) if created else to_task_result(job, self)
                for (job, created), (task, _, _) in zip(outcomes, calls)]

    async def aenqueue_all(
        self, calls: Iterable[tuple[Task, Sequence[Any], dict[str, Any]]]
    ) -> list[TaskResult]:
        """Async twin of ``enqueue_all``."""
        return await sync_to_async(self.enqueue_all, thread_sensitive=True)(list(calls))

    def validate_arguments(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any], *,
                           check_signature: bool = True) -> None:
        """Raise ``EnqueueError`` now for a call ``enqueue`` would refuse (task path, JSON, size,
        concurrency key, arguments the function does not take). With ``check_signature`` off the
        call is not complete yet (a workflow step's gets the previous step's value when it starts):
        what needs the whole call, the signature and the concurrency and rate-limit keys, is left
        to that enqueue."""
        self._check_resolvable(task)
        self._spec(task, args, kwargs, check_signature=check_signature)

    def get_result(self, result_id: str) -> TaskResult:
        """Rebuild the result of job ``result_id`` in one query."""
        return to_task_result(self._load(result_id), self)

    def check(self, **kwargs: Any) -> list:
        """Where the queue lives (app, database, router); dj_queue's registered check reports the options."""
        return setup_checks(self.alias, self.params)

    def _load(self, result_id: Any) -> Job:
        pk = job_pk(result_id)
        jobs = Job.objects.using(self.using).select_related("claimed_execution", "failed_execution")
        try:
            return jobs.get(pk=pk, backend_alias=self.alias)
        except Job.DoesNotExist:
            raise TaskResultDoesNotExist(result_id) from None

    def _check_resolvable(self, task: Task) -> None:
        """Refuse now a task whose path a worker would refuse to resolve, rather than fail it later."""
        key = (task.module_path, task.func)
        if key in self._resolvable:
            return
        reason = enqueue_refusal(task, self.options.get("task_modules"))
        if reason is not None:
            raise EnqueueError(f"dj_queue: cannot enqueue {task.module_path}: {reason}")
        self._resolvable.add(key)

    def _spec(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any], *,
              check_signature: bool = True) -> JobSpec:
        """Check the call's arguments against the function, the JSON contract and the payload cap."""
        self._check_policy(task)
        settings = concurrency_settings(task) if check_signature else None
        return self._row_spec(task, settings, self.options["max_payload_bytes"], args, kwargs,
                              check_signature=check_signature, rate=rate_limit_settings(task))

    @staticmethod
    def _row_spec(task: Task, settings: Any, limit: int, args: Any, kwargs: Any, *,
                  check_signature: bool = True, rate: Any = None) -> JobSpec:
        """The per-call part of ``_spec``: what the task's own checks (done once) leave to check."""
        try:
            args, args_json, args_size = encode(_json_list(args), "args")
            kwargs, kwargs_json, kwargs_size = encode(_json_dict(kwargs), "kwargs")
        except SerializationError as exc:
            raise EnqueueError(f"dj_queue: cannot enqueue {task.module_path}: {exc}") from None
        if check_signature:
            check_call(task, args, kwargs)
            if rate is not None:  # a key the worker could not build would fail the job when it runs
                rate_limit_key(task, rate, args, kwargs)
        size = args_size + kwargs_size
        if size > limit:
            raise EnqueueError(
                f"dj_queue: cannot enqueue {task.module_path}: arguments take {size} bytes as JSON, "
                f"more than max_payload_bytes ({limit})"
            )
        key = resolve_key(task, settings, args, kwargs) if settings else None
        return JobSpec(
            task.module_path, task.queue_name, task.priority, args, kwargs, task.run_after, size,
            concurrency_key=key, concurrency=settings, args_json=args_json, kwargs_json=kwargs_json,
        )

    def _check_policy(self, task: Task) -> None:
        """``EnqueueError`` now for retry / timeout / delivery settings the worker would reject."""
        if task.module_path in self._policies_checked:
            return
        check_exactly_once(task, policy_for(task, self.options), self.using)
        self._policies_checked.add(task.module_path)

    @staticmethod
    def _unpack(index: int, call: Any) -> tuple[Task, Sequence[Any], dict[str, Any]]:
        if not isinstance(call, (tuple, list)) or len(call) != 3 or not isinstance(call[0], Task):
            raise EnqueueError(
                f"dj_queue: enqueue_all item {index} must be a (task, args, kwargs) tuple"
            )
        return call[0], call[1], call[2]

    def _enqueued(self, job: Job, task: Task, make: NewResults | None = None) -> TaskResult:
        discarded = getattr(job, "discard_error", None)  # a concurrency limit dropped it at once
        if discarded is not None:
            error = TaskError(exception_class_path=f"{type(discarded).__module__}.{type(discarded).__qualname__}",
                              traceback=str(discarded))
            result = to_task_result(job, self, status=TaskResultStatus.FAILED, task=task, errors=[error])
        else:
            result = make(job, task) if make is not None else enqueued_result(job, self.alias, task)
        task_enqueued.send(sender=type(self), task_result=result)
        return result


def _json_list(args: Any) -> Any:
    if not isinstance(args, (list, tuple)):
        raise SerializationError("args", "args", f"is {describe_type(args)}, not a list or tuple")
    return args


def _json_dict(kwargs: Any) -> Any:
    if not isinstance(kwargs, dict):
        raise SerializationError("kwargs", "kwargs", f"is {describe_type(kwargs)}, not a dict")
    return kwargs
