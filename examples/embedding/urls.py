"""Two views: enqueue a job from a request, and read its result back."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from example_app.tasks import send_welcome_email


def enqueue(request: HttpRequest) -> JsonResponse:
    result = send_welcome_email.enqueue(user_id=int(request.GET.get("user", 1)))
    return JsonResponse({"id": result.id})


def result(request: HttpRequest, job_id: str) -> JsonResponse:
    found = send_welcome_email.get_result(job_id)
    value = found.return_value if found.status.name == "SUCCESSFUL" else None
    return JsonResponse({"id": found.id, "status": found.status.name, "return_value": value})


urlpatterns = [path("enqueue/", enqueue), path("result/<str:job_id>/", result)]
