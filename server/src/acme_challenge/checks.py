"""System checks for the mistakes that otherwise show up only as failed validations or accepted replays.

Each message says what to change. Ids:

* E001 the JWT middleware is missing; E002 both it and asymmetric_jwt_auth's own are installed;
* E003 the nonce store is per-process or absent (replays would pass); W001 it is shared but racy;
* E004 the app is not served under /.well-known/;
* E005 ``ACME_CHALLENGE_TTL`` or E006 ``ACME_CHALLENGE_ALLOWED_DOMAINS`` is malformed;
* E007 ``asymmetric_jwt_auth`` is not installed, so no key can be registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from . import conf
from .validation import is_valid_pattern

#: Cache backends whose contents a second process or node cannot see (or that store nothing at all).
_UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}

_PROBE_TOKEN = "acme-challenge-system-check"


@checks.register(checks.Tags.security)
def check_middleware(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    if conf.MIDDLEWARE_PATH not in middleware:
        hint = (
            f"Add '{conf.MIDDLEWARE_PATH}' to MIDDLEWARE, after "
            "'django.contrib.auth.middleware.AuthenticationMiddleware'. Without it every API call answers 401."
        )
        if conf.LIBRARY_MIDDLEWARE_PATH in middleware:
            hint = (
                f"Replace '{conf.LIBRARY_MIDDLEWARE_PATH}' by '{conf.MIDDLEWARE_PATH}' in MIDDLEWARE: it is the same "
                "middleware, but answers malformed tokens with 401 instead of 500 and tells the API which user the "
                "JWT authenticated."
            )
        return [checks.Error(f"{conf.MIDDLEWARE_PATH} is not in MIDDLEWARE.", hint=hint, id="acme_challenge.E001")]
    if conf.LIBRARY_MIDDLEWARE_PATH in middleware:
        return [
            checks.Error(
                f"Both {conf.MIDDLEWARE_PATH} and {conf.LIBRARY_MIDDLEWARE_PATH} are in MIDDLEWARE.",
                hint=(
                    f"Remove '{conf.LIBRARY_MIDDLEWARE_PATH}': the first verifies each JWT and records its nonce, "
                    "so the second rejects every token as a replay."
                ),
                id="acme_challenge.E002",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_nonce_store(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    backend = conf.get_nonce_backend_path()
    use_ours = (
        f'Set ASYMMETRIC_JWT_AUTH = {{"NONCE_BACKEND": "{conf.DATABASE_NONCE_BACKEND}"}}: it records nonces in the '
        "database with a unique constraint, atomically and shared by every process and node."
    )
    if backend == conf.NULL_NONCE_BACKEND:
        return [
            checks.Error(
                f"ASYMMETRIC_JWT_AUTH['NONCE_BACKEND'] is {backend}, which accepts every replayed JWT.",
                hint=use_ours,
                id="acme_challenge.E003",
            )
        ]
    if backend == conf.CACHE_NONCE_BACKEND:
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
    ttl = getattr(settings, conf.TTL_SETTING, conf.DEFAULT_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        errors.append(
            checks.Error(
                f"{conf.TTL_SETTING} is {ttl!r}.",
                hint=f"Set it to a positive number of seconds, or remove it for the default ({conf.DEFAULT_TTL}).",
                id="acme_challenge.E005",
            )
        )
    allowed = getattr(settings, conf.ALLOWED_DOMAINS_SETTING, None)
    hint = (
        f"Set {conf.ALLOWED_DOMAINS_SETTING} to a list of domain names and '*.suffix' patterns, "
        "e.g. ['example.com', '*.example.com'], or to None to allow any domain."
    )
    if allowed is not None:
        if isinstance(allowed, str) or not isinstance(allowed, (list, tuple, set, frozenset)):
            errors.append(
                checks.Error(f"{conf.ALLOWED_DOMAINS_SETTING} is {allowed!r}.", hint=hint, id="acme_challenge.E006")
            )
        else:
            bad = [pattern for pattern in allowed if not is_valid_pattern(pattern)]
            if bad:
                errors.append(
                    checks.Error(
                        f"{conf.ALLOWED_DOMAINS_SETTING} has entries that are not domain names or '*.suffix' "
                        f"patterns: {bad!r}.",
                        hint=hint,
                        id="acme_challenge.E006",
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
