"""An installed app shaped like Wagtail's ``wagtail.search``: its models import a package that is
not an app (``tests.modelsearch``, as ``modelsearch`` for Wagtail) and defines the tasks it enqueues."""
