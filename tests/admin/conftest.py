"""Clients for the admin tests: a superuser, and staff users holding only named permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission


@pytest.fixture
def admin_client(client, django_user_model):
    """A logged-in superuser, without pytest-django's slow password hashing."""
    user = django_user_model.objects.create(username="admin", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, django_user_model):
    """``staff_client("dj_queue.view_job", ...)`` -> a client logged in as staff with just those perms."""
    def make(*perms: str):
        user = django_user_model.objects.create(username="operator", is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client
    return make
