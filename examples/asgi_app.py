"""An ASGI module with dj_queue embedded: the queue runs inside the web server process.

    application = DjQueueLifespan(get_asgi_application())

Serve it with any ASGI server that speaks lifespan (``uvicorn asgi_app:application`` from this
directory; see uvicorn_app.py). Run as a script, it plays the server itself: lifespan startup,
one HTTP request that enqueues a job, the job's result, lifespan shutdown.

    python examples/asgi_app.py          # SQLite in a temporary file (DJ_QUEUE_EXAMPLE_DB: see README)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `embedding` and `example_app`
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "embedding.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

from dj_queue_plugins.asgi import DjQueueLifespan  # noqa: E402

# The whole integration: startup boots an async-mode supervisor, shutdown drains it.
application = DjQueueLifespan(get_asgi_application())


async def http_get(app, path: str) -> dict:
    """One GET through the ASGI app, as a server would send it; the JSON body."""
    target, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": target, "raw_path": target.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    body: list[bytes] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]
    done = asyncio.Event()

    async def receive():
        if requests:
            return requests.pop()
        await done.wait()  # the client "disconnects" once the response is complete
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return json.loads(b"".join(body))


async def main() -> None:
    inbox: asyncio.Queue = asyncio.Queue()
    sent: asyncio.Queue = asyncio.Queue()
    lifespan = asyncio.ensure_future(application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, sent.put))
    await inbox.put({"type": "lifespan.startup"})
    print(f"lifespan: {(await sent.get())['type']}")

    job = await http_get(application, "/enqueue/?user=7")
    print("enqueued from a request")
    for _ in range(200):  # the in-process waker runs it at once; bounded all the same
        result = await http_get(application, f"/result/{job['id']}/")
        if result["status"] == "SUCCESSFUL":
            break
        await asyncio.sleep(0.05)
    print(f"status: {result['status']}")
    print(f"return_value: {result['return_value']}")

    await inbox.put({"type": "lifespan.shutdown"})
    print(f"lifespan: {(await sent.get())['type']}")
    await lifespan


if __name__ == "__main__":
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    asyncio.run(main())
