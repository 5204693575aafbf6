"""``manage.py dj_queue``: run the supervisor of one backend (workers, dispatchers, scheduler).

At start-up it logs one short INFO line on the ``dj_queue`` logger (backend, mode, actors and the
sources of the configuration) and the whole effective configuration, secrets masked, on DEBUG.
When the project configured no handler that would show them, the command attaches a stderr
handler for its own run, formatted by ``dj_queue.logs.JsonFormatter`` when ``log_format`` is json.

``--reload`` (development) restarts the runtime when code changes; see ``dj_queue.runtime.reloading``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from typing import Any, Callable

from django.core.management.base import CommandError

from dj_queue import config, plugins
from dj_queue.config import DELIVERIES, MODES, LoadedOptions, resolve_options
from dj_queue.durations import positive_seconds
from dj_queue.exceptions import ConfigurationError
from dj_queue.logs import JsonFormatter, TracebackFormatter
from dj_queue.management.base import QueueCommand
from dj_queue.operations.recurring import static_task_problems
from dj_queue.runtime import reloading
from dj_queue.runtime.base import quiet_queries
from dj_queue.runtime.stats import StatsLogger, stats_visible
from dj_queue.runtime.modes import build_supervisor
from dj_queue_plugins import prometheus

PROMETHEUS_PLUGIN = "dj_queue_plugins.prometheus"

logger = logging.getLogger("dj_queue")

MASK = "***"
SECRET_WORDS = ("password", "secret", "token", "dsn", "credential")
_WORDS = "|".join(SECRET_WORDS)
# scheme://user:password@host -> scheme://user:***@host; scheme://token@host -> scheme://***@host
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*)(?::(?P<password>[^@/\s]*))?@")
_URL_QUERY_SECRET = re.compile(rf"(?P<name>[?&][^=&#\s]*(?:{_WORDS})[^=&#\s]*=)[^&#\s]*", re.IGNORECASE)


def is_secret(key: Any) -> bool:
    """True for a key whose value must never be logged (``api_token``, ``DB_PASSWORD``, ``sentry_dsn``)."""
    return isinstance(key, str) and any(word in key.lower() for word in SECRET_WORDS)


def _mask_url(match: re.Match) -> str:
    scheme = match.group("scheme")
    if match.group("password") is None:
        return f"{scheme}{MASK}@"  # a lone user part is often a token
    return f"{scheme}{match.group('user')}:{MASK}@"


def masked(value: Any, key: Any = None) -> Any:
    """A copy of ``value`` with secret-named keys and URL credentials replaced by ``***``."""
    if is_secret(key) and value is not None:
        return MASK
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return _URL_QUERY_SECRET.sub(rf"\g<name>{MASK}", _URL_USERINFO.sub(_mask_url, value))
    return value


def startup_line(loaded: LoadedOptions, *, backend_alias: str, actors: list[str] | None = None) -> str:
    """The start-up log line: backend, mode, actors and where the configuration came from."""
    counts = Counter(actors or [])
    actor_text = ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items()) or "-"
    return (f"dj_queue starting: backend={backend_alias!r} mode={loaded.options['mode']} actors=[{actor_text}] "
            f"sources=[{' < '.join(loaded.sources)}]")


def config_line(loaded: LoadedOptions) -> str:
    """The whole effective configuration on one line, secrets masked (logged on DEBUG)."""
    shown = json.dumps(masked(loaded.options), sort_keys=True, separators=(",", ":"), default=str)
    return f"dj_queue configuration: {shown}"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ensure_visible(verbosity: int, log_format: str = "text") -> Callable[[], None]:
    """Make the ``dj_queue`` logger's INFO lines reach stderr when nothing else would show them.

    Returns a function undoing what was changed. A project that configured logging for
    ``dj_queue`` (or a root handler) keeps full control; ``-v 0`` adds nothing; ``-v 3`` also
    shows DEBUG lines such as the full configuration.
    """
    previous_level = logger.level
    wanted = logging.DEBUG if verbosity >= 3 else logging.INFO
    if logger.hasHandlers() or verbosity == 0:
        if verbosity >= 2 and logger.level == logging.NOTSET:
            logger.setLevel(wanted)
        return lambda: logger.setLevel(previous_level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TracebackFormatter(TEXT_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or verbosity >= 3:
        logger.setLevel(wanted)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)

    return undo


class Command(QueueCommand):
    help = "Run dj_queue's workers, dispatchers and scheduler for one TASKS backend."
    example = ("python manage.py dj_queue --config dj_queue.yml\n"
               "python manage.py dj_queue --only-work --backend reports")

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="TASKS alias to serve (default: default)")
        parser.add_argument("--mode", choices=MODES,
                            help="fork: a process per actor; async: threads (env DJ_QUEUE_MODE)")
        parser.add_argument("--config", dest="config_path",
                            help="YAML file of options merged over OPTIONS (env DJ_QUEUE_CONFIG)")
        parser.add_argument("--only-work", action="store_true", help="run workers only")
        parser.add_argument("--only-dispatch", action="store_true", help="run dispatchers only")
        parser.add_argument("--skip-recurring", action="store_true",
                            help="do not run the scheduler (env DJ_QUEUE_SKIP_RECURRING)")
        parser.add_argument("--stats-every", type=positive_seconds, metavar="SECONDS",
                            help="log one stats line per queue every SECONDS (logger dj_queue.stats)")
        parser.add_argument("--delivery", choices=DELIVERIES,
                            help="what happens to jobs of a worker that died (option delivery)")
        parser.add_argument("--reload", action="store_true",
                            help="restart when code changes (development; Django's autoreloader)")
        parser.add_argument("--metrics-port", type=int, metavar="PORT",
                            help="serve Prometheus metrics over HTTP at /metrics on this port")
        parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                            help="address the metrics server listens on (default: 127.0.0.1)")

    def load(self, opts: dict[str, Any]) -> LoadedOptions:
        """The effective configuration for these command options (and the environment)."""
        try:
            return resolve_options(opts["backend"], config_path=opts["config_path"], mode=opts["mode"],
                                   skip_recurring=opts["skip_recurring"] or None,
                                   flags={"delivery": opts.get("delivery")})
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None

    def handle(self, *args, **opts):
        if opts["only_work"] and opts["only_dispatch"]:
            raise CommandError("--only-work and --only-dispatch exclude each other")
        if opts["metrics_port"] is not None:
            check_metrics(opts["metrics_port"])
        loaded = self.load(opts)
        reload_child = bool(opts.get("reload")) and reloading.is_child()
        if opts.get("reload") and not reload_child:
            code = reloading.run_parent()
            if code:
                raise CommandError("dj_queue stopped with errors", returncode=code)
            return
        try:
            supervisor = build_supervisor(loaded.options, backend_alias=opts["backend"],
                                          only_work=opts["only_work"], only_dispatch=opts["only_dispatch"],
                                          install_signals=not reload_child)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if not supervisor.slots:
            raise CommandError("nothing to run: no workers, dispatchers or scheduler configured")
        if any(slot.spec.kind == "scheduler" for slot in supervisor.slots):
            problems = static_task_problems(loaded.options["recurring"], loaded.options["task_modules"])
            if problems:  # the scheduler would not sync them; better not to start at all
                raise CommandError(f"dj_queue: not starting: {problems[0]}")
        if opts["stats_every"] is not None:
            supervisor.stats = StatsLogger(backend_alias=opts["backend"], using=loaded.options["database_alias"],
                                           every=opts["stats_every"], on_error=supervisor.on_error)
        restore_logging = ensure_visible(opts["verbosity"], loaded.options["log_format"])
        restore_stats = stats_visible() if opts["stats_every"] is not None else (lambda: None)
        config.activate(opts["backend"], loaded.options)
        stop_metrics = None
        try:
            if opts["metrics_port"] is not None:
                stop_metrics = start_metrics(opts, mode=loaded.options["mode"])
            logger.info("%s", startup_line(loaded, backend_alias=opts["backend"],
                                           actors=[slot.spec.kind for slot in supervisor.slots]))
            logger.debug("%s", config_line(loaded))
            if reload_child:
                code = reloading.run_child(supervisor, lambda: self.run(supervisor, loaded.options),
                                           stop_timeout=reloading.stop_timeout(loaded.options))
            else:
                code = self.run(supervisor, loaded.options)
        finally:
            if stop_metrics is not None:
                stop_metrics()
            config.activate(opts["backend"], None)
            restore_stats()
            restore_logging()
        if code:
            raise CommandError("dj_queue stopped with errors", returncode=code)

    def run(self, supervisor: Any, options: dict[str, Any]) -> int:
        # The supervisor's own polling (heartbeats, recovery) happens on this thread.
        try:
            with quiet_queries(options["silence_polling"]):
                return supervisor.run()
        except ConfigurationError as exc:  # e.g. the pidfile is held by a live supervisor
            raise CommandError(str(exc)) from None


def check_metrics(port: int) -> None:
    """Refuse ``--metrics-port`` early when it could not work."""
    if not 0 < port < 65536:
        raise CommandError(f"--metrics-port must be between 1 and 65535, got {port}")
    if not prometheus.available():
        raise CommandError("--metrics-port needs prometheus_client: pip install 'dj-queue[prometheus]'")
    if PROMETHEUS_PLUGIN in plugins.disabled_plugin_names():
        raise CommandError(f"--metrics-port needs the {PROMETHEUS_PLUGIN} plugin, which is disabled")


def start_metrics(opts: dict[str, Any], *, mode: str) -> Callable[[], None]:
    """Serve /metrics for this run; return the function that stops it.

    Fork-mode workers are child processes, so without a ``PROMETHEUS_MULTIPROC_DIR`` of the
    user's their samples go to a fresh directory of this run, removed at the end.
    """
    own_dir = None
    if mode == "fork" and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="dj_queue-metrics-")
        prometheus.use_multiprocess_dir(own_dir)
    try:
        server = prometheus.serve(opts["metrics_port"], host=opts["metrics_host"], backend_alias=opts["backend"])
    except OSError as exc:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
        raise CommandError(f"cannot serve metrics on {opts['metrics_host']}:{opts['metrics_port']}: "
                           f"{exc.strerror or exc}") from None
    logger.info("dj_queue: serving Prometheus metrics on http://%s:%d/metrics",
                opts["metrics_host"], opts["metrics_port"])

    def stop() -> None:
        server.shutdown()
        server.server_close()
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)

    return stop
