"""Our settings and their defaults, in one place.

Values are read from ``django.conf.settings`` on every access, so ``override_settings`` in tests works.
"""

from __future__ import annotations

from django.conf import settings

#: Setting names, so that messages and checks name them the same way everywhere.
TTL_SETTING = "ACME_CHALLENGE_TTL"
ALLOWED_DOMAINS_SETTING = "ACME_CHALLENGE_ALLOWED_DOMAINS"

#: A challenge is served for this many seconds after it was (last) written. certbot deletes it through the cleanup
#: hook long before; the TTL only bounds what a failed cleanup leaves behind.
DEFAULT_TTL = 24 * 60 * 60

#: The middleware the API needs. It extends asymmetric_jwt_auth's own (see middleware.py for why).
MIDDLEWARE_PATH = "acme_challenge.middleware.JWTAuthMiddleware"
LIBRARY_MIDDLEWARE_PATH = "asymmetric_jwt_auth.middleware.JWTAuthMiddleware"

#: The atomic nonce store this app ships, and asymmetric_jwt_auth's racy default.
DATABASE_NONCE_BACKEND = "acme_challenge.nonce.DatabaseNonceBackend"
CACHE_NONCE_BACKEND = "asymmetric_jwt_auth.nonce.django.DjangoCacheNonceBackend"
NULL_NONCE_BACKEND = "asymmetric_jwt_auth.nonce.null.NullNonceBackend"


def get_ttl() -> int:
    """Seconds a challenge stays servable after it was written (``ACME_CHALLENGE_TTL``, default one day)."""
    return getattr(settings, TTL_SETTING, DEFAULT_TTL)


def get_allowed_domains() -> list[str] | None:
    """Domain names and ``*.suffix`` patterns a challenge may be pushed for, or ``None`` for any
    (``ACME_CHALLENGE_ALLOWED_DOMAINS``, default ``None``)."""
    value = getattr(settings, ALLOWED_DOMAINS_SETTING, None)
    if value is None:
        return None
    return [str(pattern).strip().lower().rstrip(".") for pattern in value]


def get_timestamp_tolerance() -> int:
    """asymmetric_jwt_auth's accepted clock skew in seconds; a JWT is only acceptable within it."""
    from asymmetric_jwt_auth import get_setting

    return int(get_setting("TIMESTAMP_TOLERANCE"))


def get_nonce_backend_path() -> str:
    from asymmetric_jwt_auth import get_setting

    return str(get_setting("NONCE_BACKEND"))
