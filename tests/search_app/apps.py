from django.apps import AppConfig


class SearchAppConfig(AppConfig):
    name = "tests.search_app"
    label = "search_app"
    default_auto_field = "django.db.models.BigAutoField"
