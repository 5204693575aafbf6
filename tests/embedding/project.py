"""The embedding tests' project: an ASGI app wrapped in ``DjQueueLifespan`` and a WSGI app.

``DJ_QUEUE_EMBED_OPTIONS`` (JSON) holds keyword overrides for ``DjQueueLifespan``, so a test
can lower intervals or break the configuration on purpose.
"""

from __future__ import annotations

import json
import os

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

from dj_queue_plugins.asgi import DjQueueLifespan

application = DjQueueLifespan(get_asgi_application(), **json.loads(os.environ.get("DJ_QUEUE_EMBED_OPTIONS") or "{}"))
wsgi_application = get_wsgi_application()
