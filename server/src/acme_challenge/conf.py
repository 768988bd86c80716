"""Our settings and their defaults, in one place: the setting names, the limits, and :data:`conf`, whose properties
read ``django.conf.settings`` on every access (as django-cors-headers' ``conf`` does).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Generic, TypeVar

from asymmetric_jwt_auth import get_setting
from django.conf import settings

from .names import is_valid_pattern, setting_pattern

T = TypeVar("T")

#: Setting names, so that messages and checks name them the same way everywhere.
TTL_SETTING = "ACME_CHALLENGE_TTL"
ALLOWED_DOMAINS_SETTING = "ACME_CHALLENGE_ALLOWED_DOMAINS"
LEGACY_CLIENTS_SETTING = "ACME_CHALLENGE_LEGACY_CLIENTS"
AUDIT_RETENTION_SETTING = "ACME_CHALLENGE_AUDIT_RETENTION"
METRICS_TOKEN_SETTING = "ACME_CHALLENGE_METRICS_TOKEN"
METRICS_ADDRESSES_SETTING = "ACME_CHALLENGE_METRICS_ADDRESSES"
PROBE_ADDRESSES_SETTING = "ACME_CHALLENGE_PROBE_ADDRESSES"
PROBE_MAX_AGE_SETTING = "ACME_CHALLENGE_PROBE_MAX_AGE"
#: Seconds a stored probe result (acme_challenge_status --probe) is shown: two days, so that a probe from cron every
#: few hours is always within it and one that stopped running drops out of the dashboard and the metrics.
DEFAULT_PROBE_MAX_AGE = 2 * 24 * 60 * 60
TRUST_ROOTS_SETTING = "ACME_CHALLENGE_TRUST_ROOTS"
#: Shortest metrics bearer token accepted (system check E010): a guessable token would make the metrics public.
MIN_METRICS_TOKEN_LENGTH = 16

#: A challenge is served for this many seconds after it was (last) written. certbot deletes it through the cleanup
#: hook long before; the TTL only bounds what a failed cleanup leaves behind.
DEFAULT_TTL = 24 * 60 * 60

#: Days an audit record is kept. A year of renewals every 60 days is a handful of rows per name; 90 days keeps the
#: last renewal of every certificate in view.
DEFAULT_AUDIT_RETENTION_DAYS = 90

#: Largest request body the API reads, in bytes. The largest valid push (a 127-character token and validation and a
#: 253-character name, form- or JSON-encoded) is under 700 bytes.
MAX_BODY_BYTES = 4096
#: Deepest nesting of arrays and objects in a JSON body. A valid push is one flat object (depth 1), a valid batch an
#: object holding a list of them (depth 3).
MAX_JSON_DEPTH = 4
#: Most challenges in one batch call: the names Let's Encrypt puts in one certificate.
MAX_BATCH_ITEMS = 100
#: Largest batch body read, in bytes: 100 of the largest valid pushes (127-character token and validation, a
#: 253-character name) are about 55 KiB of JSON.
MAX_BATCH_BYTES = 64 * 1024

#: The middleware that authenticated every path before issue 11. It is now an inert pass-through, kept so that old
#: settings still load; system check W002 asks to remove it.
OLD_MIDDLEWARE_PATH = "acme_challenge.middleware.JWTAuthMiddleware"
#: asymmetric_jwt_auth's middleware: it would let a certbot key's JWT authenticate every view, admin included.
LIBRARY_MIDDLEWARE_PATH = "asymmetric_jwt_auth.middleware.JWTAuthMiddleware"

#: The atomic nonce store this app ships, and asymmetric_jwt_auth's racy default.
DATABASE_NONCE_BACKEND = "acme_challenge.nonce.DatabaseNonceBackend"
CACHE_NONCE_BACKEND = "asymmetric_jwt_auth.nonce.django.DjangoCacheNonceBackend"
NULL_NONCE_BACKEND = "asymmetric_jwt_auth.nonce.null.NullNonceBackend"


def is_valid_metrics_token(value: object) -> bool:
    return isinstance(value, str) and len(value) >= MIN_METRICS_TOKEN_LENGTH and value.isprintable()


@dataclass(frozen=True)
class Reading(Generic[T]):
    """A setting read once, for the site and its system checks alike: ``value`` is what the site applies; ``wrong``
    says the setting as given (``given``) is of the wrong type, so the site applies what is safe instead; ``dropped``
    holds the entries the site ignores. The checks report ``wrong`` and ``dropped``; nothing else reads the setting."""

    value: T
    given: object = None
    wrong: bool = False
    dropped: tuple[object, ...] = ()


_COLLECTIONS = (list, tuple, set, frozenset)


class Settings:
    """Our settings with their defaults, as properties: each access reads ``django.conf.settings`` (one ``getattr``,
    cheap enough for the serving path), so ``override_settings`` in tests works. Use the one instance, :data:`conf`."""

    @property
    def ttl(self) -> int:
        """Seconds a challenge stays servable after it was written (``ACME_CHALLENGE_TTL``, default one day)."""
        value: int = getattr(settings, TTL_SETTING, DEFAULT_TTL)
        return value

    @property
    def allowed_domains(self) -> list[str] | None:
        """Domain names and ``*.suffix`` patterns a challenge may be pushed for, in canonical form, or ``None`` for
        any (``ACME_CHALLENGE_ALLOWED_DOMAINS``, default ``None``). An entry that is not a pattern matches nothing, and
        a value that is not a list allows nothing (system check E006 names them)."""
        return self.read_allowed_domains().value

    def read_allowed_domains(self) -> Reading[list[str] | None]:
        value = getattr(settings, ALLOWED_DOMAINS_SETTING, None)
        if value is None:
            return Reading(None)
        if not isinstance(value, _COLLECTIONS):
            return Reading([], given=value, wrong=True)
        dropped = tuple(pattern for pattern in value if not is_valid_pattern(pattern))
        return Reading([setting_pattern(pattern) for pattern in value], given=value, dropped=dropped)

    @property
    def legacy_clients(self) -> bool | frozenset[str]:
        """``ACME_CHALLENGE_LEGACY_CLIENTS`` as the site applies it: ``True`` (every user), the usernames named, or
        ``False`` (default). A value of any other type (system check E008) names nobody."""
        return self.read_legacy_clients().value

    def read_legacy_clients(self) -> Reading[bool | frozenset[str]]:
        value = getattr(settings, LEGACY_CLIENTS_SETTING, False)
        if isinstance(value, bool):
            return Reading(value, given=value)
        if isinstance(value, _COLLECTIONS):
            names = frozenset(name for name in value if isinstance(name, str) and name)
            dropped = tuple(name for name in value if not (isinstance(name, str) and name))
            return Reading(names, given=value, dropped=dropped)
        return Reading(False, given=value, wrong=True)

    def is_legacy_client(self, username: str) -> bool:
        """Whether ``username`` may use the original certbot-django plugin: JWTs without the request-binding claims
        (on push and delete only) and pushes without ``domain``."""
        legacy = self.legacy_clients
        return legacy is True or (isinstance(legacy, frozenset) and username in legacy)

    @property
    def trust_roots(self) -> list[str]:
        """Paths of PEM files whose certificates the site trusts as roots of reported certificates, beside the
        system's (``ACME_CHALLENGE_TRUST_ROOTS``, default none): a private CA's, such as the tests' Pebble. A single
        string is one path; a value of another type (system check E012) adds none."""
        return self.read_trust_roots().value

    def read_trust_roots(self) -> Reading[list[str]]:
        value = getattr(settings, TRUST_ROOTS_SETTING, None)
        if not value:
            return Reading([], given=value)
        if isinstance(value, (str, os.PathLike)):
            return Reading([os.fspath(value)], given=value)
        if not isinstance(value, (list, tuple)):
            return Reading([], given=value, wrong=True)
        return Reading([os.fspath(path) for path in value], given=value)

    @property
    def audit_retention_days(self) -> int:
        """Days audit records are kept (``ACME_CHALLENGE_AUDIT_RETENTION``, default 90)."""
        value: int = getattr(settings, AUDIT_RETENTION_SETTING, DEFAULT_AUDIT_RETENTION_DAYS)
        return value

    @property
    def timestamp_tolerance(self) -> int:
        """asymmetric_jwt_auth's accepted clock skew in seconds; a JWT is only acceptable within it."""
        return int(get_setting("TIMESTAMP_TOLERANCE"))

    @property
    def nonce_backend_path(self) -> str:
        """asymmetric_jwt_auth's ``NONCE_BACKEND`` (system checks E003 and W003 read it)."""
        return str(get_setting("NONCE_BACKEND"))

    @property
    def metrics_token(self) -> object:
        """The bearer token the metrics endpoint requires (``ACME_CHALLENGE_METRICS_TOKEN``) as set, or None. Check it
        with :func:`is_valid_metrics_token`: a value system check E010 refuses matches no request."""
        return getattr(settings, METRICS_TOKEN_SETTING, None)

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
        """The addresses and networks allowed to read the metrics (``ACME_CHALLENGE_METRICS_ADDRESSES``), or None.
        Entries that are not addresses or networks, or a value that is not a list (system check E011), allow
        nothing."""
        return self.read_metrics_networks().value

    def read_metrics_networks(self) -> Reading[list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None]:
        value = getattr(settings, METRICS_ADDRESSES_SETTING, None)
        if value is None:
            return Reading(None)
        entries = [value] if isinstance(value, str) else value
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        dropped: list[object] = []
        try:
            for entry in entries:
                try:
                    networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
                except ValueError:
                    dropped.append(entry)
        except TypeError:  # not iterable
            return Reading([], given=value, wrong=True)
        return Reading(networks, given=value, dropped=tuple(dropped))

    @property
    def probe_addresses(self) -> dict[str, str]:
        """Where ``acme_challenge_status --probe`` connects for a name instead of ``name:443``
        (``ACME_CHALLENGE_PROBE_ADDRESSES``: ``{name: "host", "host:port", "[IPv6]:port" or ":port"}``, default none),
        for names behind a load balancer."""
        value = getattr(settings, PROBE_ADDRESSES_SETTING, None) or {}
        return {str(name).lower(): str(where) for name, where in dict(value).items()}

    @property
    def probe_max_age(self) -> int:
        """Seconds a stored probe result is shown by the dashboard and exported by the metrics
        (``ACME_CHALLENGE_PROBE_MAX_AGE``, default two days); 0: the dashboard and the metrics use no probe."""
        return int(getattr(settings, PROBE_MAX_AGE_SETTING, DEFAULT_PROBE_MAX_AGE))


#: The settings: ``from .conf import conf``, then ``conf.ttl``.
conf = Settings()
