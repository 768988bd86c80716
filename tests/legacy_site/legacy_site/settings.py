"""A Django site as certbot-django 0.2.0 (2017) told people to build one, for the compatibility tests.

Runs in .venv-legacy-server (tests/harness/legacy.py builds it from requirements-server.txt): certbot-django 0.2.0's
server app with Django REST framework, asymmetric-jwt-auth 1.0.0's middleware verifying the JWTs against the
public keys registered in its PublicKey model, and Django 3.2, the last release with the
``django.conf.urls.url`` that certbot-django's urls.py imports. Nothing here comes from this repository's
server app. ``LEGACY_SITE_DATABASE`` names the SQLite file; ``LEGACY_SITE_CLAIMS_LOG`` turns on the test-only
claims_spy middleware.
"""

import os

SECRET_KEY = "legacy-site-test-key-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "asymmetric_jwt_auth",
    "certbot_django.server",
    # Test-only, not part of certbot-django: manage.py legacy_data (management/commands/legacy_data.py).
    "legacy_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "asymmetric_jwt_auth.middleware.JWTAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
if os.environ.get("LEGACY_SITE_CLAIMS_LOG"):
    # Test-only, not part of certbot-django: see claims_spy.py.
    MIDDLEWARE.insert(0, "legacy_site.claims_spy.RecordClaimNamesMiddleware")

ROOT_URLCONF = "legacy_site.urls"
WSGI_APPLICATION = "legacy_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LEGACY_SITE_DATABASE", "legacy.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# asymmetric-jwt-auth 1.0's default nonce store is Django's cache: one local-memory cache per process is the
# library's out-of-the-box behaviour (the site runs one gunicorn worker, so a replay is still caught).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

USE_TZ = True
STATIC_URL = "/static/"
