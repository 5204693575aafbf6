"""The library's task, imported while Django loads ``tests.search_app``."""

from __future__ import annotations

from dj_queue.compat import task


@task
def update_index(model: str, pk: int) -> dict:
    return {"indexed": f"{model}:{pk}"}
