"""The operator dashboard, served by the admin site at ``<admin>/dj_queue/dashboard/``.

``install(site)`` hooks the dashboard into an ``AdminSite`` (dj_queue's ``JobAdmin`` calls it for
the site it is registered with), so ``path("admin/", admin.site.urls)`` is all a project needs.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse

__all__ = ["install", "urlpatterns"]


def urlpatterns(site: AdminSite) -> list[URLPattern]:
    """The dashboard's URL patterns, each behind the site's staff check and CSRF protection."""
    from dj_queue.dashboard import views, workflows

    kwargs = {"site": site}
    return [
        path("dj_queue/dashboard/", site.admin_view(views.overview), kwargs, name="dj_queue_dashboard"),
        path("dj_queue/dashboard/jobs/<str:state>/", site.admin_view(views.jobs), kwargs,
             name="dj_queue_dashboard_jobs"),
        path("dj_queue/dashboard/job/<int:job_id>/", site.admin_view(views.job_detail), kwargs,
             name="dj_queue_dashboard_job"),
        path("dj_queue/dashboard/job/<int:job_id>/progress/", site.admin_view(workflows.job_progress), kwargs,
             name="dj_queue_dashboard_job_progress"),
        path("dj_queue/dashboard/workflows/", site.admin_view(workflows.workflows), kwargs,
             name="dj_queue_dashboard_workflows"),
        path("dj_queue/dashboard/workflow/<int:workflow_id>/", site.admin_view(workflows.workflow_detail), kwargs,
             name="dj_queue_dashboard_workflow"),
        path("dj_queue/dashboard/lookup/", site.admin_view(views.lookup), kwargs,
             name="dj_queue_dashboard_lookup"),
        path("dj_queue/dashboard/action/", site.admin_view(views.action), kwargs,
             name="dj_queue_dashboard_action"),
    ]


def install(site: AdminSite) -> None:
    """Serve the dashboard from ``site`` and list it first under dj_queue on the admin index."""
    if getattr(site, "_dj_queue_dashboard", False):
        return
    site._dj_queue_dashboard = True
    # Wrapping the instance's methods (not subclassing) keeps the default admin.site usable as is.
    original_urls, original_app_list = site.get_urls, site.get_app_list
    site.get_urls = lambda: urlpatterns(site) + original_urls()

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = original_app_list(request, app_label)
        if request.user.has_perm("dj_queue.view_job"):
            for app in apps:
                if app["app_label"] == "dj_queue":
                    app["models"].insert(0, _dashboard_entry(site))
        return apps

    site.get_app_list = get_app_list


def _dashboard_entry(site: AdminSite) -> dict[str, Any]:
    return {"name": "Dashboard", "object_name": "Dashboard", "perms": {"view": True},
            "admin_url": reverse("admin:dj_queue_dashboard", current_app=site.name),
            "add_url": None, "view_only": True}
