"""Run dj_queue inside an ASGI server: ``application = DjQueueLifespan(get_asgi_application())``.

On ``lifespan.startup`` an async-mode supervisor starts in a background thread of the server
process (the event loop is never blocked); on ``lifespan.shutdown`` it drains, bounded by
``shutdown_timeout``. The server owns signals. Jobs enqueued by this process's views wake the
embedded workers at once (the in-process waker).

The wrapped application's own lifespan is honoured when it has one; Django's ``ASGIHandler``
has none (it refuses non-HTTP scopes), so startup and shutdown are completed here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, MutableMapping

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("dj_queue.embedded")


class DjQueueLifespan:
    """ASGI middleware running an embedded dj_queue supervisor for the life of the server.

    Keyword arguments: ``backend_alias``, ``config_path`` (a YAML options file), ``only_work``,
    ``only_dispatch``, ``skip_recurring``, ``startup_timeout``; any other keyword overrides the
    option of that name (``workers=[...]``, ``shutdown_timeout=10``). ``enabled=False`` turns
    the runtime off and leaves a plain pass-through.
    """

    def __init__(self, app: ASGIApp, *, backend_alias: str = "default", config_path: str | None = None,
                 only_work: bool = False, only_dispatch: bool = False, skip_recurring: bool | None = None,
                 startup_timeout: float = 30.0, enabled: bool = True, **overrides: Any) -> None:
        if not callable(app):
            raise TypeError(f"DjQueueLifespan wraps an ASGI application, not {app!r}")
        self.app = app
        self.backend_alias = backend_alias
        self.enabled = enabled
        self.startup_timeout = startup_timeout
        self._build_kwargs = dict(config_path=config_path, only_work=only_work, only_dispatch=only_dispatch,
                                  skip_recurring=skip_recurring, **overrides)
        self.runtime: Any = None  # the EmbeddedRuntime while the server runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        await self._lifespan(scope, receive, send)

    # --- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            raise RuntimeError(f"DjQueueLifespan: expected lifespan.startup, got {message['type']!r}")
        inner = _InnerLifespan(self.app, scope)
        failure = await inner.startup()
        if failure is None and self.enabled:
            failure = await self._start_runtime()
            if failure is not None:
                await inner.shutdown()
        if failure is not None:
            await send({"type": "lifespan.startup.failed", "message": failure})
            return
        await send({"type": "lifespan.startup.complete"})
        try:
            while (await receive())["type"] != "lifespan.shutdown":
                pass
        except asyncio.CancelledError:
            # The server is going away without a shutdown event: still drain, blocking if need be.
            if self.runtime is not None:
                self.runtime.stop()
                self.runtime = None
            raise
        failure = await self._stop_runtime()
        failure = await inner.shutdown() or failure
        if failure is not None:
            await send({"type": "lifespan.shutdown.failed", "message": failure})
        else:
            await send({"type": "lifespan.shutdown.complete"})

    async def _start_runtime(self) -> str | None:
        """Build and boot the runtime off the event loop; a failure message, or None."""
        try:
            self.runtime = await asyncio.to_thread(self._boot)
        except Exception as exc:
            logger.error("dj_queue: the embedded runtime could not start: %s", exc, exc_info=exc)
            return f"dj_queue: the embedded runtime could not start: {type(exc).__name__}: {exc}"
        logger.info("dj_queue: embedded supervisor started (%s)", self.runtime.supervisor.name)
        return None

    def _boot(self) -> Any:
        from dj_queue.runtime.threaded import EmbeddedRuntime

        runtime = EmbeddedRuntime.from_settings(self.backend_alias, **self._build_kwargs)
        runtime.start(self.startup_timeout)
        return runtime

    async def _stop_runtime(self) -> str | None:
        runtime, self.runtime = self.runtime, None
        if runtime is None:
            return None
        if await asyncio.to_thread(runtime.stop):
            logger.info("dj_queue: embedded supervisor stopped")
            return None
        message = f"dj_queue: the embedded supervisor did not stop within {runtime.stop_timeout():.0f}s"
        logger.error(message)
        return message


class _InnerLifespan:
    """Drives the wrapped app's lifespan, if it has one, through a pair of queues."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.app = app
        self.scope = scope
        self.supported = True
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def startup(self) -> str | None:
        """Run the app's startup; a failure message, or None (also when it has no lifespan)."""
        self._task = asyncio.ensure_future(self.app(self.scope, self._inbox.get, self._outbox.put))
        reply, error = await self._exchange({"type": "lifespan.startup"})
        if reply is None:
            # Raising or returning at once is the ASGI signal for "no lifespan" (Django raises ValueError).
            logger.debug("dj_queue: the wrapped app has no lifespan (%r)", error)
            self.supported = False
            return None
        if reply["type"] == "lifespan.startup.complete":
            return None
        if reply["type"] == "lifespan.startup.failed":
            return reply.get("message") or "the wrapped application's startup failed"
        return f"the wrapped application sent {reply['type']!r} during startup"

    async def shutdown(self) -> str | None:
        """Run the app's shutdown; a failure message, or None."""
        if not self.supported:
            return None
        self.supported = False
        reply, error = await self._exchange({"type": "lifespan.shutdown"})
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if error is not None:
            return f"the wrapped application's lifespan raised {type(error).__name__}: {error}"
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            return reply.get("message") or "the wrapped application's shutdown failed"
        return None

    async def _exchange(self, message: Message) -> tuple[Message | None, BaseException | None]:
        """Send ``message``; the app's answer, or (None, what it raised) when it ended without one."""
        assert self._task is not None
        await self._inbox.put(message)
        getter = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result(), None
        getter.cancel()
        return None, None if self._task.cancelled() else self._task.exception()
