"""System checks for the mistakes that otherwise show up only as failed validations or accepted replays.

Each message says what to change. Ids:

* E002 asymmetric_jwt_auth's middleware is installed (a JWT would open every view); W002 our old, now inert, JWT
  middleware is still listed (E001, "our middleware is missing", is retired: the API needs no middleware);
* E003 the nonce store is per-process or absent (replays would pass); W001 it is shared but racy;
* E004 the app is not served under /.well-known/;
* E005 ``ACME_CHALLENGE_TTL`` or E006 ``ACME_CHALLENGE_ALLOWED_DOMAINS`` is malformed;
* E008 ``ACME_CHALLENGE_LEGACY_CLIENTS`` is neither a boolean nor a list of usernames; W006 it is ``True``, which
  accepts unbound tokens (on push and delete) from every user;
* E012 a file of ``ACME_CHALLENGE_TRUST_ROOTS`` is unreadable or holds no certificate, or the site has no trust
  anchor at all, so certificate reports are refused;
* E007 ``asymmetric_jwt_auth`` is not installed, so no key can be registered;
* E010 ``ACME_CHALLENGE_METRICS_TOKEN`` or E011 ``ACME_CHALLENGE_METRICS_ADDRESSES`` is malformed;
* W005 a reported certificate is late for renewal or expired (``check --deploy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.db import DatabaseError
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from .conf import (
    ALLOWED_DOMAINS_SETTING,
    AUDIT_RETENTION_SETTING,
    CACHE_NONCE_BACKEND,
    DATABASE_NONCE_BACKEND,
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_TTL,
    LEGACY_CLIENTS_SETTING,
    LIBRARY_MIDDLEWARE_PATH,
    METRICS_ADDRESSES_SETTING,
    METRICS_TOKEN_SETTING,
    MIN_METRICS_TOKEN_LENGTH,
    NULL_NONCE_BACKEND,
    OLD_MIDDLEWARE_PATH,
    TRUST_ROOTS_SETTING,
    TTL_SETTING,
    conf,
    is_valid_metrics_token,
)
from .names import covers_public_suffix

#: Cache backends whose contents a second process or node cannot see (or that store nothing at all).
_UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}

_PROBE_TOKEN = "acme-challenge-system-check"


@checks.register(checks.Tags.security)
def check_middleware(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    messages: list[checks.CheckMessage] = []
    if LIBRARY_MIDDLEWARE_PATH in middleware:
        messages.append(
            checks.Error(
                f"{LIBRARY_MIDDLEWARE_PATH} is in MIDDLEWARE: it lets a JWT authenticate every view, the admin "
                "included, and spends each token's nonce before the challenge API sees it, so the API refuses "
                "every push as a replay.",
                hint=(
                    f"Remove '{LIBRARY_MIDDLEWARE_PATH}' from MIDDLEWARE: the challenge API verifies its JWTs "
                    "itself. If another part of the site needs it, silence this check knowing that every key of a "
                    "staff account then opens the admin."
                ),
                id="acme_challenge.E002",
            )
        )
    if OLD_MIDDLEWARE_PATH in middleware:
        messages.append(
            checks.Warning(
                f"{OLD_MIDDLEWARE_PATH} is in MIDDLEWARE. It no longer does anything: the challenge API "
                "verifies its JWTs itself, and no other view sees a user from a JWT.",
                hint=f"Remove '{OLD_MIDDLEWARE_PATH}' from MIDDLEWARE.",
                id="acme_challenge.W002",
            )
        )
    return messages


@checks.register(checks.Tags.security)
def check_nonce_store(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    backend = conf.nonce_backend_path
    use_ours = (
        f'Set ASYMMETRIC_JWT_AUTH = {{"NONCE_BACKEND": "{DATABASE_NONCE_BACKEND}"}}: it records nonces in the '
        "database with a unique constraint, atomically and shared by every process and node."
    )
    if backend == NULL_NONCE_BACKEND:
        return [
            checks.Error(
                f"ASYMMETRIC_JWT_AUTH['NONCE_BACKEND'] is {backend}, which accepts every replayed JWT.",
                hint=use_ours,
                id="acme_challenge.E003",
            )
        ]
    if backend == CACHE_NONCE_BACKEND:
        cache_backend = caches.settings.get("default", {}).get("BACKEND", "")
        if cache_backend in _UNSHARED_CACHES:
            return [
                checks.Error(
                    f"The nonce store is not shared: asymmetric_jwt_auth's default nonce backend keeps used nonces in "
                    f"the default cache, {cache_backend}, which each process has to itself, so a JWT replayed to "
                    "another process or node is accepted.",
                    hint=use_ours,
                    id="acme_challenge.E003",
                )
            ]
        return [
            checks.Warning(
                f"{backend} checks and records nonces in two steps (get, then set), so two requests carrying the "
                "same JWT at the same moment can both be accepted.",
                hint=use_ours,
                id="acme_challenge.W001",
            )
        ]
    return []


@checks.register(checks.Tags.urls)
def check_mounted(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    include = "path('.well-known/', include('acme_challenge.urls'))"
    try:
        path = reverse("acme_challenge:serve", kwargs={"token": _PROBE_TOKEN})
    except NoReverseMatch:
        return [
            checks.Error(
                "The acme_challenge URLs are not in ROOT_URLCONF (no URL named 'acme_challenge:serve').",
                hint=f"Add {include} to the urlpatterns of {settings.ROOT_URLCONF}.",
                id="acme_challenge.E004",
            )
        ]
    expected = f"/.well-known/acme-challenge/{_PROBE_TOKEN}"
    if path != expected:
        return [
            checks.Error(
                f"Challenges are served at {path}, but the CA fetches {expected}.",
                hint=f"Include the app exactly under '.well-known/': {include}, at the top level of ROOT_URLCONF.",
                id="acme_challenge.E004",
            )
        ]
    try:
        match = resolve(expected)
    except Resolver404:  # pragma: no cover  (reverse() just produced this path)
        match = None
    if match is None or match.view_name != "acme_challenge:serve":
        shadow = match.view_name if match else "nothing"
        return [
            checks.Error(
                f"{expected} resolves to {shadow}, not to acme_challenge's view.",
                hint=f"Move {include} above the URL pattern that catches it.",
                id="acme_challenge.E004",
            )
        ]
    return []


@checks.register()
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    ttl = conf.ttl
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        errors.append(
            checks.Error(
                f"{TTL_SETTING} is {ttl!r}.",
                hint=f"Set it to a positive number of seconds, or remove it for the default ({DEFAULT_TTL}).",
                id="acme_challenge.E005",
            )
        )
    allowed = conf.read_allowed_domains()
    hint = (
        f"Set {ALLOWED_DOMAINS_SETTING} to a list of domain names and '*.suffix' patterns, "
        "e.g. ['example.com', '*.example.com'], or to None to allow any domain."
    )
    if allowed.wrong:
        errors.append(
            checks.Error(f"{ALLOWED_DOMAINS_SETTING} is {allowed.given!r}.", hint=hint, id="acme_challenge.E006")
        )
    elif allowed.value is not None:
        if allowed.dropped:
            errors.append(
                checks.Error(
                    f"{ALLOWED_DOMAINS_SETTING} has entries that are not domain names or '*.suffix' "
                    f"patterns: {list(allowed.dropped)!r}.",
                    hint=hint,
                    id="acme_challenge.E006",
                )
            )
        # Named as written: the canonical form (conf's value, in the same order) may read differently.
        broad = [
            given
            for given, pattern in zip(allowed.given, allowed.value, strict=True)  # type: ignore[call-overload]
            if covers_public_suffix(pattern)
        ]
        if broad:
            errors.append(
                checks.Warning(
                    f"{ALLOWED_DOMAINS_SETTING} has patterns that cover a whole public suffix: "
                    f"{', '.join(map(str, broad))}. Any key may then push challenges for names of strangers "
                    "that this site answers for.",
                    hint="List your own names instead, e.g. ['example.com', '*.example.com'].",
                    id="acme_challenge.W003",
                )
            )
    legacy = conf.read_legacy_clients()
    if legacy.wrong or legacy.dropped:
        errors.append(
            checks.Error(
                f"{LEGACY_CLIENTS_SETTING} is {legacy.given!r}.",
                hint=(
                    "Set it to a list of the usernames whose hooks are still the original certbot-django plugin, "
                    "e.g. ['certbot'], or to False or remove it (True accepts the plugin for every user)."
                ),
                id="acme_challenge.E008",
            )
        )
    elif legacy.value is True:
        errors.append(
            checks.Warning(
                f"{LEGACY_CLIENTS_SETTING} = True accepts the original certbot-django plugin's tokens for every user: "
                "a token without the request-binding claims, captured from any of them, can be replayed to push or "
                "delete with another body while it is fresh, and pushes without a domain are served for any Host.",
                hint=(
                    f"Narrow it to the users that still run the old plugin: {LEGACY_CLIENTS_SETTING} = ['certbot'] "
                    "(the example site: the environment variable of that name, comma-separated usernames)."
                ),
                id="acme_challenge.W006",
            )
        )
    retention = conf.audit_retention_days
    if not isinstance(retention, int) or isinstance(retention, bool) or retention <= 0:
        errors.append(
            checks.Error(
                f"{AUDIT_RETENTION_SETTING} is {retention!r}.",
                hint=(
                    "Set it to the number of days audit records are kept, or remove it for the default "
                    f"({DEFAULT_AUDIT_RETENTION_DAYS})."
                ),
                id="acme_challenge.E009",
            )
        )
    if not apps.is_installed("asymmetric_jwt_auth"):
        errors.append(
            checks.Error(
                "asymmetric_jwt_auth is not in INSTALLED_APPS, so no public key can be registered for the hooks.",
                hint="Add 'asymmetric_jwt_auth' to INSTALLED_APPS and run manage.py migrate.",
                id="acme_challenge.E007",
            )
        )
    return errors


@checks.register(checks.Tags.database)
def check_key_scopes(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if not databases:
        return []
    from .models import KeyScope

    messages: list[checks.CheckMessage] = []
    try:
        for database in databases:
            broad = [
                scope
                for scope in KeyScope.objects.using(database).select_related("key__user").order_by("id")
                if covers_public_suffix(scope.pattern)
            ]
            for scope in broad:
                user = scope.key.user.get_username()
                messages.append(
                    checks.Warning(
                        f"The scope of a key of user '{user}' (key id {scope.key_id}, \"{scope.key.comment}\") has "
                        f"'{scope.pattern}', which covers a whole public suffix: names of strangers.",
                        hint=(
                            f"Limit the key to your own names: manage.py certbot_client {user} --public-key-file KEY "
                            "--domain example.com --domain '*.example.com', or edit its scope in the admin."
                        ),
                        id="acme_challenge.W004",
                    )
                )
    except DatabaseError:
        return []  # not migrated yet: migrate runs this check before it creates the table
    return messages


@checks.register()
def check_metrics_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:

    errors: list[checks.CheckMessage] = []
    token = conf.metrics_token
    if token is not None and not is_valid_metrics_token(token):
        errors.append(
            checks.Error(
                f"{METRICS_TOKEN_SETTING} is not a printable string of at least "
                f"{MIN_METRICS_TOKEN_LENGTH} characters, so the metrics endpoint refuses every request.",
                hint=(
                    "Set it to a long random secret, e.g. the output of "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))', or remove it."
                ),
                id="acme_challenge.E010",
            )
        )
    addresses = conf.read_metrics_networks()
    bad = [addresses.given] if addresses.wrong else list(addresses.dropped)
    if bad:
        errors.append(
            checks.Error(
                f"{METRICS_ADDRESSES_SETTING} has entries that are not IP addresses or networks: {bad!r}.",
                hint="List addresses and networks, e.g. ['127.0.0.1', '10.0.0.0/8', '::1'].",
                id="acme_challenge.E011",
            )
        )
    return errors


@checks.register()
def check_trust_roots(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .trust import TrustStoreError, store

    roots = conf.read_trust_roots()
    if roots.wrong:
        return [
            checks.Error(
                f"{TRUST_ROOTS_SETTING} is {roots.given!r}.",
                hint="Set it to a list of paths of PEM files, each holding a root certificate, e.g. ['/etc/ca.pem'].",
                id="acme_challenge.E012",
            )
        ]
    try:
        store()
    except TrustStoreError as error:
        return [
            checks.Error(
                f"Certificate reports will be refused: {error}.",
                hint=(
                    f"List readable PEM files of root certificates in {TRUST_ROOTS_SETTING}, or remove the entry; "
                    "the system's roots come from the ca-certificates bundle."
                ),
                id="acme_challenge.E012",
            )
        ]
    return []


def _certificate_warnings() -> list[checks.CheckMessage]:
    from .models import Verdict
    from .monitoring import safe_alerting

    alerting = safe_alerting()
    messages: list[checks.CheckMessage] = []
    for status in alerting or []:
        certificate = status.certificate
        if certificate is None:  # only certified names are late or expired
            continue
        if status.verdict == Verdict.EXPIRED:
            what = f"expired on {certificate.not_after:%Y-%m-%d %H:%M} UTC"
        else:
            what = (
                f"expires on {certificate.not_after:%Y-%m-%d %H:%M} UTC ({status.days_left:.1f} days left) and its "
                f"renewal has been due since {status.renewal_due:%Y-%m-%d}"
            )
        messages.append(
            checks.Warning(
                f"The certificate for {status.name} {what}: it is {status.verdict}.",
                hint=(
                    "On the certbot host run 'certbot renew' and read its log (a stopped timer, a failing hook, a "
                    "node that does not serve challenges); manage.py acme_challenge_status shows the last push and "
                    "CA fetch. A certificate that no longer needs this name: delete its report in the admin."
                ),
                id="acme_challenge.W005",
            )
        )
    return messages


@checks.register(deploy=True)
def check_certificates(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W005, with ``check --deploy``. A deployment check rather than a database-tagged one because Django runs those
    only when given ``--database`` (and, from 6.0, never with ``--deploy`` alone); it reads the default database and
    says nothing when that is not migrated or not reachable."""
    return _certificate_warnings()
