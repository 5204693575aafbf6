"""Two views the servers under test answer: a ping and an in-process enqueue."""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.urls import path

from tests.tasks_app.tasks import add


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


def enqueue(request: HttpRequest) -> JsonResponse:
    """Enqueue ``add(a, b)`` from inside the server process (the in-process waker's case)."""
    result = add.enqueue(int(request.GET.get("a", 1)), int(request.GET.get("b", 2)))
    return JsonResponse({"id": result.id, "pid": os.getpid()})


urlpatterns = [path("ping/", ping), path("enqueue/", enqueue)]
