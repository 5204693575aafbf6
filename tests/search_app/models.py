"""No models: importing this module during app loading pulls in the non-app task package."""

from tests.modelsearch.tasks import update_index  # noqa: F401
