"""The procrastinate app the driver and ``procrastinate --app=procrastinate_app.app worker`` share.
The tasks are coroutines, which procrastinate runs on its event loop without a thread hop."""

from __future__ import annotations

from procrastinate import App, PsycopgConnector

import common

app = App(connector=PsycopgConnector(conninfo=common.pg_dsn()))


@app.task(name="noop")
async def noop() -> None:
    return None


@app.task(name="stamp")
async def stamp(path: str) -> None:
    common.write_stamp(path)
