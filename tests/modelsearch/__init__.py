"""A library package, not a Django app: nothing in INSTALLED_APPS or ``task_modules`` names it."""
