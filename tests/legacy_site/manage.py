#!/usr/bin/env python
"""manage.py of the stand-in for a site still running the original certbot-django 0.2.0 server."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
