"""``tests.settings`` plus the URLs of the embedding tests' tiny project."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.embedding.urls"
