"""Serve ``asgi_app.application`` (Django + embedded dj_queue) with uvicorn.

    python examples/uvicorn_app.py            # demo: serve on a free port, enqueue over HTTP, stop
    python examples/uvicorn_app.py --serve    # serve on 127.0.0.1:8000 until Ctrl-C

The command-line equivalent of ``--serve`` is ``cd examples && uvicorn asgi_app:application``.
Keep uvicorn's lifespan on (the default "auto" works): that is when dj_queue starts and drains.
Each ``--workers`` process runs its own supervisor.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.request

import uvicorn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from asgi_app import application  # noqa: E402


def get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def demo() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run)  # off the main thread: uvicorn leaves signals alone
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit("uvicorn did not start")
            time.sleep(0.05)
        print(f"uvicorn serving on port {port}")
        job = get(port, "/enqueue/?user=3")
        print("enqueued over HTTP")
        for _ in range(200):
            result = get(port, f"/result/{job['id']}/")
            if result["status"] == "SUCCESSFUL":
                break
            time.sleep(0.05)
        print(f"status: {result['status']}")
        print(f"return_value: {result['return_value']}")
    finally:
        server.should_exit = True  # what SIGTERM does: lifespan shutdown drains the queue runtime
        thread.join(30)
    print(f"uvicorn stopped: {not thread.is_alive()}")


if __name__ == "__main__":
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if "--serve" in sys.argv:
        uvicorn.run(application, host="127.0.0.1", port=8000, lifespan="on")
    else:
        demo()
