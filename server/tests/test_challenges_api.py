"""Pushing and deleting challenges: the certbot-django protocol, its validation rules and the domain allow-list."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from acme_challenge import models
from acme_challenge.models import Challenge

from .conftest import API, FORM, SERVE, TOKEN, VALIDATION, bound_auth, delete, push
from .conftest import form as conftest_form

pytestmark = pytest.mark.django_db


def test_a_form_post_stores_the_challenge_and_it_is_served(client: Client, certbot_user, ed25519_key) -> None:
    response = push(client, ed25519_key, domain="example.com")
    assert response.status_code == 201
    assert response["Content-Type"].startswith("text/plain")
    challenge = Challenge.objects.get()
    assert (challenge.token, challenge.validation, challenge.domain) == (TOKEN, VALIDATION, "example.com")
    assert client.get(SERVE + TOKEN, headers={"Host": "example.com"}).content == VALIDATION.encode()


def post_json(client: Client, key, body: bytes, path: str = API):
    return client.post(path, body, content_type="application/json", headers=bound_auth(key, "POST", path, body))


def test_a_json_post_is_accepted_like_a_form(client: Client, certbot_user, ed25519_key) -> None:
    body = {"challenge": TOKEN, "response": VALIDATION, "domain": "www.example.com"}
    response = post_json(client, ed25519_key, json.dumps(body).encode())
    assert response.status_code == 201
    assert Challenge.objects.get().domain == "www.example.com"


def test_posting_a_token_again_replaces_it_and_restarts_its_ttl(client: Client, certbot_user, ed25519_key) -> None:
    push(client, ed25519_key, validation=TOKEN + ".old", domain="old.example")
    Challenge.objects.update(created=timezone.now() - timedelta(hours=1))
    assert push(client, ed25519_key, domain="new.example").status_code == 201
    challenge = Challenge.objects.get()
    assert (challenge.validation, challenge.domain) == (VALIDATION, "new.example")
    assert timezone.now() - challenge.created < timedelta(minutes=1)


@pytest.mark.parametrize("path", ["/.well-known/challenges", "/.well-known/challenges/"])
def test_the_trailing_slash_of_the_post_url_is_optional(path: str, settings, certbot_user, ed25519_key) -> None:
    settings.APPEND_SLASH = True
    settings.DEBUG = True  # where Django would raise instead of redirecting a POST
    body = f"challenge={TOKEN}&response={VALIDATION}&domain=example.com".encode()
    headers = bound_auth(ed25519_key, "POST", path, body)
    response = Client().post(path, body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("given", "stored"),
    [("WWW.Example.COM", "www.example.com"), ("[2001:DB8:0::1]", "2001:db8::1"), ("2001:db8:0:0::1", "2001:db8::1")],
)
def test_the_domain_is_stored_in_canonical_form(client: Client, certbot_user, rsa_key, given, stored) -> None:
    assert push(client, rsa_key, domain=given).status_code == 201
    assert Challenge.objects.get().domain == stored


@pytest.mark.parametrize("domain", ["192.0.2.7", "2001:db8::1", "localhost", "xn--bcher-kva.example"])
def test_ip_addresses_and_plain_names_are_valid_domains(client: Client, certbot_user, rsa_key, domain) -> None:
    assert push(client, rsa_key, domain=domain).status_code == 201


BAD_FORMS = {
    "missing-challenge": ({"response": VALIDATION}, "challenge: is required"),
    "empty-challenge": ({"challenge": "", "response": VALIDATION}, "challenge: is required"),
    "missing-response": ({"challenge": TOKEN}, "response: is required"),
    "token-with-dot": ({"challenge": "a.b", "response": "a.b.c"}, "challenge: must be the ACME token"),
    "token-with-slash": ({"challenge": "a/b", "response": "a/b.c"}, "challenge: must be the ACME token"),
    "token-with-newline": ({"challenge": "ab\n", "response": "ab\n.c"}, "challenge: must be the ACME token"),
    "token-128-bytes": ({"challenge": "a" * 128, "response": "a" * 128 + ".c"}, "challenge: must be the ACME token"),
    "non-ascii-token": ({"challenge": "été", "response": "été.c"}, "challenge: must be the ACME token"),
    "response-without-dot": ({"challenge": TOKEN, "response": TOKEN}, "response: must be the key authorization"),
    "response-two-dots": ({"challenge": TOKEN, "response": VALIDATION + ".x"}, "response: must be the key auth"),
    "response-padding": ({"challenge": TOKEN, "response": VALIDATION + "="}, "response: must be the key auth"),
    "response-128-bytes": (
        {"challenge": "a", "response": "a." + "b" * 126},
        "response: must be the key authorization",
    ),
    "response-other-token": ({"challenge": TOKEN, "response": "other.abc"}, "response: must start with the token"),
    "response-prefix-token": ({"challenge": "ab", "response": "abc.def"}, "response: must start with the token"),
    "wildcard-domain": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "*.example.com"},
        "domain: '*.example.com' is invalid: wildcard names need the DNS-01 challenge",
    ),
    "space-domain": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a b.example"},
        "domain: 'a b.example' is invalid: a hostname may only contain letters, digits, hyphens and dots",
    ),
    "underscore-domain": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a_b.example"},
        "domain: 'a_b.example' is invalid: a hostname may only contain",
    ),
    "unicode-domain": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "bücher.example"},
        "domain: 'bücher.example' is invalid: a hostname may only contain",
    ),
    "long-label": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a" * 64 + ".example"},
        "domain: 'aaaa",
    ),
    "too-long-domain": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a." * 127 + "ab"},
        "domain: 'a.a.",
    ),
    "trailing-dot": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "example.com."},
        "domain: 'example.com.' is invalid: it has an empty label (two dots in a row, or a leading or trailing dot)",
    ),
    "ipv6-zone-id-under-an-allowed-suffix": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "fe80::1%x.example.com"},
        "domain: 'fe80::1%x.example.com' is invalid: a hostname may only contain",
    ),
    "ipv6-huge-zone-id": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "fe80::1%" + "z" * 3000},
        "domain: 'fe80::1%zzz",
    ),
    "bracketed-ipv6-zone-id": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "[fe80::1%25eth0]"},
        "domain: '[fe80::1%25eth0]' is invalid: brackets must enclose an IPv6 address",
    ),
    "bracketed-ipv4": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "[192.0.2.7]"},
        "domain: '[192.0.2.7]' is invalid: brackets must enclose an IPv6 address",
    ),
    "numeric-last-label": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a.0x7f"},
        "domain: 'a.0x7f' is invalid: its last label is a number, so URLs would read it as an IPv4 address",
    ),
    "bad-punycode": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "www.xn--a.com"},
        "domain: 'www.xn--a.com' is invalid: an xn-- label is not valid punycode (IDNA)",
    ),
    "control-character": (
        {"challenge": TOKEN, "response": VALIDATION, "domain": "a.com\r\nHost: evil"},
        "domain: 'a.com\\r\\nHost: evil' is invalid",
    ),
    "missing-domain": ({"challenge": TOKEN, "response": VALIDATION}, "domain: is required: the name being validated"),
    "repeated-field": ({"challenge": [TOKEN, "x"], "response": VALIDATION}, "challenge: was given more than once"),
}


@pytest.mark.parametrize(("form", "message"), BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_values_are_400_naming_the_field_and_nothing_is_stored(
    client: Client, certbot_user, ed25519_key, form, message
) -> None:
    body = conftest_form(**form)
    response = client.post(API, body, content_type=FORM, headers=bound_auth(ed25519_key, "POST", API, body))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().startswith(message)
    assert not Challenge.objects.exists()


BAD_JSON = {
    "not-json": (b"{challenge", "body: is not valid JSON"),
    "not-utf8": (b"\xff\xfe", "body: is not valid JSON"),
    "array": (b"[1, 2]", "body: must be a JSON object"),
    "number-token": (json.dumps({"challenge": 5, "response": "5.a"}).encode(), "challenge: must be a string"),
    "number-domain": (
        json.dumps({"challenge": TOKEN, "response": VALIDATION, "domain": 7}).encode(),
        "domain: must be a string",
    ),
}


@pytest.mark.parametrize(("body", "message"), BAD_JSON.values(), ids=BAD_JSON.keys())
def test_bad_json_bodies_are_400_naming_the_problem_and_nothing_is_stored(
    client: Client, certbot_user, rsa_key, body, message
) -> None:
    response = post_json(client, rsa_key, body)
    assert response.status_code == 400
    assert response.content.decode().startswith(message)
    assert not Challenge.objects.exists()


ALLOWED = ["example.com", "*.example.org"]


@pytest.mark.parametrize("domain", ["example.com", "EXAMPLE.COM", "www.example.org", "a.b.example.org"])
def test_a_domain_in_the_allow_list_is_accepted(client: Client, settings, certbot_user, rsa_key, domain) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    assert push(client, rsa_key, domain=domain).status_code == 201


@pytest.mark.parametrize("domain", ["www.example.com", "example.org", "badexample.org", "example.com.evil"])
def test_a_domain_outside_the_allow_list_is_403_naming_it_and_the_setting(
    client: Client, settings, certbot_user, rsa_key, domain
) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    response = push(client, rsa_key, domain=domain)
    assert response.status_code == 403
    text = response.content.decode()
    assert domain in text
    assert "ACME_CHALLENGE_ALLOWED_DOMAINS" in text
    assert not Challenge.objects.exists()


def test_with_an_allow_list_a_push_without_domain_is_403(client: Client, settings, certbot_user, rsa_key) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = True  # else a push without domain is a 400 before the allow-list
    response = push(client, rsa_key, domain=None)
    assert response.status_code == 403
    assert response.content.decode().startswith("domain: required here, because ACME_CHALLENGE_ALLOWED_DOMAINS")
    assert not Challenge.objects.exists()


def test_a_push_purges_the_expired_challenges_at_most_once_per_interval(
    client: Client, settings, monkeypatch, certbot_user, rsa_key
) -> None:
    settings.ACME_CHALLENGE_TTL = 3600
    monkeypatch.setattr(models, "_last_expiry_purge", float("-inf"))
    old = timezone.now() - timedelta(seconds=3601)
    Challenge.objects.create(token="old", validation="old.x", created=old)
    Challenge.objects.create(token="young", validation="young.x", created=timezone.now() - timedelta(seconds=3500))
    assert push(client, rsa_key).status_code == 201
    assert sorted(Challenge.objects.values_list("token", flat=True)) == sorted([TOKEN, "young"])
    # Within the interval a push leaves expired rows to the next purge (they are not served meanwhile).
    Challenge.objects.create(token="older", validation="older.x", created=old)
    assert push(client, rsa_key, token="other", validation="other.x").status_code == 201
    assert Challenge.objects.filter(token="older").exists()
    assert client.get(SERVE + "older").status_code == 404
    monkeypatch.setattr(models, "_last_expiry_purge", float("-inf"))
    assert push(client, rsa_key, token="third", validation="third.x").status_code == 201
    assert not Challenge.objects.filter(token="older").exists()


@pytest.mark.parametrize("suffix", ["/", ""])
def test_delete_answers_204_then_404_once_gone(client: Client, certbot_user, ed25519_key, suffix) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION)
    Challenge.objects.create(token="other", validation="other.x")
    response = delete(client, ed25519_key, suffix=suffix)
    assert response.status_code == 204
    assert list(Challenge.objects.values_list("token", flat=True)) == ["other"]
    assert client.get(SERVE + TOKEN).status_code == 404
    response = delete(client, ed25519_key, suffix=suffix)
    assert response.status_code == 404
    assert response.content.decode() == f"no such challenge: {TOKEN}\n"


def test_delete_of_a_malformed_token_is_404(client: Client, certbot_user, ed25519_key) -> None:
    response = delete(Client(raise_request_exception=False), ed25519_key, "a.b")
    assert response.status_code == 404


def test_the_api_urls_refuse_other_methods_with_405(client: Client, certbot_user, ed25519_key) -> None:
    assert client.get(API, headers=bound_auth(ed25519_key, "GET", API)).status_code == 405
    path = API + TOKEN + "/"
    assert client.post(path, headers=bound_auth(ed25519_key, "POST", path)).status_code == 405
    assert client.put(path, headers=bound_auth(ed25519_key, "PUT", path)).status_code == 405
