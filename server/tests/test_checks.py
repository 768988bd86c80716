"""The system checks: each misconfiguration gets its id and a hint that says what to change."""

from __future__ import annotations

import pytest
from django.core import checks
from django.urls import include, path, re_path

from acme_challenge import checks as our_checks

OURS = "acme_challenge.middleware.JWTAuthMiddleware"
LIBRARYS = "asymmetric_jwt_auth.middleware.JWTAuthMiddleware"


def run_checks() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks(include_deployment_checks=False) if str(m.id).startswith("acme_challenge.")]


def ids() -> list[str]:
    return [m.id for m in run_checks()]


def test_the_test_site_passes_every_check() -> None:
    assert run_checks() == []


def test_manage_py_check_passes_at_warning_level() -> None:
    from django.core.management import call_command

    call_command("check", "--fail-level", "WARNING")


def test_the_api_needs_no_middleware(settings) -> None:
    assert OURS not in settings.MIDDLEWARE
    assert LIBRARYS not in settings.MIDDLEWARE
    assert run_checks() == []


def test_the_old_inert_middleware_still_listed_is_w002_asking_to_remove_it(settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, OURS]
    [message] = run_checks()
    assert message.id == "acme_challenge.W002"
    assert message.level == checks.WARNING
    assert "no longer does anything" in message.msg
    assert message.hint == f"Remove '{OURS}' from MIDDLEWARE."


def test_the_librarys_middleware_is_e002_because_a_jwt_would_open_every_view(settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, LIBRARYS]
    [message] = run_checks()
    assert message.id == "acme_challenge.E002"
    assert "authenticate every view, the admin included" in message.msg
    assert message.hint.startswith(f"Remove '{LIBRARYS}' from MIDDLEWARE")


@pytest.mark.parametrize(
    "cache", ["django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"]
)
def test_the_default_nonce_store_on_a_per_process_cache_is_e003(settings, cache) -> None:
    settings.ASYMMETRIC_JWT_AUTH = {}
    settings.CACHES = {"default": {"BACKEND": cache}}
    [message] = run_checks()
    assert message.id == "acme_challenge.E003"
    assert "not shared" in message.msg
    assert "acme_challenge.nonce.DatabaseNonceBackend" in message.hint


def test_the_null_nonce_store_is_e003(settings) -> None:
    settings.ASYMMETRIC_JWT_AUTH = {"NONCE_BACKEND": "asymmetric_jwt_auth.nonce.null.NullNonceBackend"}
    assert ids() == ["acme_challenge.E003"]


def test_the_default_nonce_store_on_a_shared_cache_is_w001_because_it_races(settings) -> None:
    settings.ASYMMETRIC_JWT_AUTH = {}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "c"}}
    [message] = run_checks()
    assert message.id == "acme_challenge.W001"
    assert message.level == checks.WARNING


class _URLConf:
    """A ROOT_URLCONF given as an object (Django accepts one); hashable, as the resolver cache needs."""

    def __init__(self, *patterns) -> None:
        self.urlpatterns = list(patterns)


_urlconf = _URLConf


def _view(request):  # pragma: no cover  (never called: only resolved)
    raise AssertionError


@pytest.mark.parametrize(
    ("urlconf", "words"),
    [
        (_urlconf(path("admin/", _view)), "not in ROOT_URLCONF"),
        (_urlconf(path("acme/", include("acme_challenge.urls"))), "served at /acme/acme-challenge/"),
        (_urlconf(path(".well-known/x/", include("acme_challenge.urls"))), "served at /.well-known/x/"),
        (
            _urlconf(
                re_path(r"^\.well-known/.*", _view, name="catchall"),
                path(".well-known/", include("acme_challenge.urls")),
            ),
            "resolves to catchall",
        ),
    ],
    ids=["not-mounted", "elsewhere", "too-deep", "shadowed"],
)
def test_an_app_not_served_under_well_known_is_e004(settings, urlconf, words) -> None:
    settings.ROOT_URLCONF = urlconf
    [message] = run_checks()
    assert message.id == "acme_challenge.E004"
    assert words in message.msg
    assert "path('.well-known/', include('acme_challenge.urls'))" in message.hint


@pytest.mark.parametrize("ttl", [0, -1, "3600", 1.5, None, True])
def test_a_ttl_that_is_not_a_positive_integer_is_e005(settings, ttl) -> None:
    settings.ACME_CHALLENGE_TTL = ttl
    assert ids() == ["acme_challenge.E005"]


@pytest.mark.parametrize(
    "allowed",
    ["example.com", ["example.com", "bad domain"], ["*"], ["**.example.com"], [42], ["ex*.com"]],
    ids=["a-string", "space", "bare-star", "double-star", "number", "inner-star"],
)
def test_a_malformed_allow_list_is_e006(settings, allowed) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = allowed
    [message] = run_checks()
    assert message.id == "acme_challenge.E006"
    assert "ACME_CHALLENGE_ALLOWED_DOMAINS" in message.hint


@pytest.mark.parametrize("allowed", [None, [], ["example.com", "*.example.org", "192.0.2.1", "Example.NET."]])
def test_a_well_formed_allow_list_passes(settings, allowed) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = allowed
    assert run_checks() == []


def test_without_asymmetric_jwt_auth_installed_it_is_e007(monkeypatch) -> None:
    real = our_checks.apps.is_installed
    monkeypatch.setattr(our_checks.apps, "is_installed", lambda name: name != "asymmetric_jwt_auth" and real(name))
    assert ids() == ["acme_challenge.E007"]


@pytest.mark.parametrize("pattern", ["*.com", "*.co.uk", "*.github.io", "*.COM."])
def test_an_allow_list_pattern_covering_a_public_suffix_is_w003(settings, pattern) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["example.com", pattern]
    [message] = run_checks()
    assert message.id == "acme_challenge.W003"
    assert message.level == checks.WARNING
    assert f"cover a whole public suffix: {pattern}" in message.msg


@pytest.mark.parametrize("allowed", [["*.example.com", "*.example.co.uk", "com", "*.a.github.io"]])
def test_patterns_below_a_public_suffix_pass(settings, allowed) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = allowed
    assert run_checks() == []


@pytest.mark.parametrize("value", ["yes", 1, None, "certbot,alice", ["certbot", 3], [""]])
def test_a_legacy_clients_setting_that_is_neither_a_boolean_nor_usernames_is_e008(settings, value) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = value
    [message] = run_checks()
    assert message.id == "acme_challenge.E008"
    assert "a list of the usernames" in message.hint


def test_legacy_clients_true_is_w006_naming_the_setting_to_narrow_it(settings) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = True
    [message] = run_checks()
    assert (message.id, message.level) == ("acme_challenge.W006", checks.WARNING)
    assert "every user" in message.msg
    assert "ACME_CHALLENGE_LEGACY_CLIENTS = ['certbot']" in message.hint


@pytest.mark.parametrize("value", [False, ["certbot"], ("certbot", "alice"), []])
def test_legacy_clients_naming_users_or_off_passes(settings, value) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = value
    assert run_checks() == []


def test_a_trust_root_that_is_not_a_certificate_is_e012(settings, tmp_path) -> None:
    not_pem = tmp_path / "root.pem"
    not_pem.write_text("not a certificate\n")
    settings.ACME_CHALLENGE_TRUST_ROOTS = [str(not_pem)]
    [message] = run_checks()
    assert message.id == "acme_challenge.E012"
    assert f"{not_pem} holds no PEM certificate" in message.msg


@pytest.mark.parametrize("value", [0, -1, "90", 1.5, True])
def test_an_audit_retention_that_is_not_a_positive_number_of_days_is_e009(settings, value) -> None:
    settings.ACME_CHALLENGE_AUDIT_RETENTION = value
    assert ids() == ["acme_challenge.E009"]
