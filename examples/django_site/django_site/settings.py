"""Settings for the example site, configured from the environment.

* ``DJANGO_ALLOWED_HOSTS``: comma-separated (default ``localhost,127.0.0.1``).
* ``DATABASE_URL``: any dj-database-url URL, e.g. ``postgres://user:pass@host/db``
  (default: ``db.sqlite3`` beside manage.py).
* ``DJANGO_SECRET_KEY``: required in production (default: a development key).
* ``DJANGO_DEBUG``: ``1``/``true``/``yes``/``on`` to enable (default off).
* ``ACME_CHALLENGE_ALLOWED_DOMAINS``: comma-separated names and ``*.suffix`` patterns (default: any domain).
* ``ACME_CHALLENGE_TTL``: seconds a challenge is served (default 86400).
* ``ACME_CHALLENGE_LEGACY_CLIENTS``: the users whose hooks are still the original certbot-django plugin, comma-separated
  (its unbound JWTs on push and delete, pushes without ``domain``); ``1``/``true``/``yes``/``on`` for every user
  (system check W006 warns); default none.
* ``ACME_CHALLENGE_TRUST_ROOTS``: the path of a PEM file of root certificates that reported certificates may chain to,
  beside the system's (a private CA's, such as Pebble's); default none.
* ``ACME_CHALLENGE_AUDIT_RETENTION``: days the audit trail of API calls is kept (default 90).
* ``ACME_CHALLENGE_METRICS_TOKEN``: the bearer token that opens ``/.well-known/acme-challenge-metrics`` (default: unset,
  and the endpoint answers 404 unless ``ACME_CHALLENGE_METRICS_ADDRESSES`` is set).
* ``ACME_CHALLENGE_METRICS_ADDRESSES``: comma-separated addresses and networks that may read the metrics.
* ``ACME_CHALLENGE_PROBE_ADDRESSES``: where ``acme_challenge_status --probe`` connects for a name instead of its
  port 443, comma-separated ``name=host:port`` entries (e.g. ``www.example.com=10.0.0.5:443``).
* ``DJANGO_LOG_LEVEL``: the root log level (default ``INFO``); asymmetric_jwt_auth never logs below INFO.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-site-development-key-do-not-deploy")
DEBUG = _env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "asymmetric_jwt_auth",
    "acme_challenge",
    # Test support (manage.py site_data): the end-to-end tests and benchmarks read and seed the data through it.
    "site_data",
]

MIDDLEWARE = [
    # Answers the CA's fetches of /.well-known/acme-challenge/<token> before the rest of the stack (a fast path).
    "acme_challenge.middleware.ServeChallengesFirstMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # No JWT middleware: the challenge API verifies its JWTs itself, so no other view (the admin) ever sees one.
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "django_site.urls"
WSGI_APPLICATION = "django_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# Persistent connections: opening one per request (and, on SQLite, running its PRAGMAs) cost the challenge view
# most of its throughput (scripts/bench, P3). Health checks drop a connection the database has closed.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=600, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Every API call writes (the nonce, the key's last use, the challenge, the audit record), in one transaction.
    # SQLite allows one writer at a time: IMMEDIATE takes the write lock when a transaction begins, so a waiting
    # writer queues on the busy timeout instead of failing with "database is locked" when it upgrades a read lock;
    # WAL lets readers (the CA's GETs) proceed during writes. synchronous=NORMAL is durable across application
    # crashes in WAL mode.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# asymmetric_jwt_auth's migrations use AutoField; saying so silences models.W042 for its models.
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# The nonce store shared by every process and node on this database: a replayed JWT is refused wherever it lands.
ASYMMETRIC_JWT_AUTH = {"NONCE_BACKEND": "acme_challenge.nonce.DatabaseNonceBackend"}

ACME_CHALLENGE_ALLOWED_DOMAINS = _env_list("ACME_CHALLENGE_ALLOWED_DOMAINS") or None
ACME_CHALLENGE_TTL = int(os.environ.get("ACME_CHALLENGE_TTL", "86400"))
ACME_CHALLENGE_LEGACY_CLIENTS = _env_flag("ACME_CHALLENGE_LEGACY_CLIENTS") or _env_list("ACME_CHALLENGE_LEGACY_CLIENTS")
# One path (it may hold several certificates); a comma in it is part of the path.
ACME_CHALLENGE_TRUST_ROOTS = [path] if (path := os.environ.get("ACME_CHALLENGE_TRUST_ROOTS", "").strip()) else []
ACME_CHALLENGE_AUDIT_RETENTION = int(os.environ.get("ACME_CHALLENGE_AUDIT_RETENTION", "90"))
ACME_CHALLENGE_METRICS_TOKEN = os.environ.get("ACME_CHALLENGE_METRICS_TOKEN") or None
ACME_CHALLENGE_METRICS_ADDRESSES = _env_list("ACME_CHALLENGE_METRICS_ADDRESSES") or None
ACME_CHALLENGE_PROBE_ADDRESSES = dict(
    entry.split("=", 1) for entry in _env_list("ACME_CHALLENGE_PROBE_ADDRESSES") if "=" in entry
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # asymmetric_jwt_auth logs whole JWTs at DEBUG ("... jwt:[%s]"). A JWT is a credential until it expires, so
        # that logger never goes below INFO here, whatever the root level.
        "asymmetric_jwt_auth": {"level": "INFO"},
    },
}
