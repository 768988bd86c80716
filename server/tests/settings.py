"""Settings for the in-process tests: the smallest site that mounts the app the way the example site does."""

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
# The names the tests push challenges for, so that requests naming them pass Django's Host validation.
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "example.com", ".example.com", ".example.org", "[2001:db8::1]"]
USE_TZ = True
# asymmetric_jwt_auth's migrations use AutoField; saying so silences models.W042 for its models.
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "asymmetric_jwt_auth",
    "acme_challenge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

ASYMMETRIC_JWT_AUTH = {"NONCE_BACKEND": "acme_challenge.nonce.DatabaseNonceBackend"}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Key generation and checking dominate the tests' time; the fastest hasher keeps user setup out of the way.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
