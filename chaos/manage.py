#!/usr/bin/env python
"""The chaos project's manage.py; the harness runs ``manage.py dj_queue`` through it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaos.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
