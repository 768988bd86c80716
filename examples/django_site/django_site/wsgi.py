"""WSGI entry point: ``gunicorn django_site.wsgi`` from examples/django_site."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")

application = get_wsgi_application()
