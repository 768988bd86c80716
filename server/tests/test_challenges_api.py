"""Pushing and deleting challenges: the certbot-django protocol, its validation rules and the domain allow-list."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from acme_challenge.models import Challenge

from .conftest import API, SERVE, TOKEN, VALIDATION, auth, push

pytestmark = pytest.mark.django_db


def test_a_form_post_stores_the_challenge_and_it_is_served(client: Client, certbot_user, ed25519_key) -> None:
    response = push(client, auth(ed25519_key), domain="example.com")
    assert response.status_code == 201
    assert response["Content-Type"].startswith("text/plain")
    challenge = Challenge.objects.get()
    assert (challenge.token, challenge.validation, challenge.domain) == (TOKEN, VALIDATION, "example.com")
    assert client.get(SERVE + TOKEN).content == VALIDATION.encode()


def test_the_domain_is_optional_as_in_the_old_certbot_django_client(client: Client, certbot_user, rsa_key) -> None:
    assert push(client, auth(rsa_key)).status_code == 201
    assert Challenge.objects.get().domain == ""


def test_a_json_post_is_accepted_like_a_form(client: Client, certbot_user, ed25519_key) -> None:
    body = {"challenge": TOKEN, "response": VALIDATION, "domain": "www.example.com"}
    response = client.post(API, json.dumps(body), content_type="application/json", headers=auth(ed25519_key))
    assert response.status_code == 201
    assert Challenge.objects.get().domain == "www.example.com"


def test_posting_a_token_again_replaces_it_and_restarts_its_ttl(client: Client, certbot_user, ed25519_key) -> None:
    push(client, auth(ed25519_key), validation=TOKEN + ".old", domain="old.example")
    Challenge.objects.update(created=timezone.now() - timedelta(hours=1))
    assert push(client, auth(ed25519_key), domain="new.example").status_code == 201
    challenge = Challenge.objects.get()
    assert (challenge.validation, challenge.domain) == (VALIDATION, "new.example")
    assert timezone.now() - challenge.created < timedelta(minutes=1)


@pytest.mark.parametrize("path", ["/.well-known/challenges", "/.well-known/challenges/"])
def test_the_trailing_slash_of_the_post_url_is_optional(path: str, settings, certbot_user, ed25519_key) -> None:
    settings.APPEND_SLASH = True
    settings.DEBUG = True  # where Django would raise instead of redirecting a POST
    response = Client().post(path, {"challenge": TOKEN, "response": VALIDATION}, headers=auth(ed25519_key))
    assert response.status_code == 201


def test_the_domain_is_stored_in_lower_case_without_its_trailing_dot(client: Client, certbot_user, rsa_key) -> None:
    assert push(client, auth(rsa_key), domain="WWW.Example.COM.").status_code == 201
    assert Challenge.objects.get().domain == "www.example.com"


@pytest.mark.parametrize("domain", ["192.0.2.7", "2001:db8::1", "localhost", "xn--bcher-kva.example"])
def test_ip_addresses_and_plain_names_are_valid_domains(client: Client, certbot_user, rsa_key, domain) -> None:
    assert push(client, auth(rsa_key), domain=domain).status_code == 201


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
    "wildcard-domain": ({"challenge": TOKEN, "response": VALIDATION, "domain": "*.example.com"}, "domain: HTTP-01"),
    "space-domain": ({"challenge": TOKEN, "response": VALIDATION, "domain": "a b.example"}, "domain: must be a DNS"),
    "underscore-domain": ({"challenge": TOKEN, "response": VALIDATION, "domain": "a_b.example"}, "domain: must be"),
    "unicode-domain": ({"challenge": TOKEN, "response": VALIDATION, "domain": "bücher.example"}, "domain: must be AS"),
    "long-label": ({"challenge": TOKEN, "response": VALIDATION, "domain": "a" * 64 + ".example"}, "domain: must be"),
    "too-long-domain": ({"challenge": TOKEN, "response": VALIDATION, "domain": "a." * 127 + "ab"}, "domain: must be"),
    "repeated-field": ({"challenge": [TOKEN, "x"], "response": VALIDATION}, "challenge: was given more than once"),
}


@pytest.mark.parametrize(("form", "message"), BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_values_are_400_naming_the_field_and_nothing_is_stored(
    client: Client, certbot_user, ed25519_key, form, message
) -> None:
    response = client.post(API, form, headers=auth(ed25519_key))
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
    response = client.post(API, body, content_type="application/json", headers=auth(rsa_key))
    assert response.status_code == 400
    assert response.content.decode().startswith(message)
    assert not Challenge.objects.exists()


ALLOWED = ["example.com", "*.example.org"]


@pytest.mark.parametrize("domain", ["example.com", "EXAMPLE.COM.", "www.example.org", "a.b.example.org"])
def test_a_domain_in_the_allow_list_is_accepted(client: Client, settings, certbot_user, rsa_key, domain) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    assert push(client, auth(rsa_key), domain=domain).status_code == 201


@pytest.mark.parametrize("domain", ["www.example.com", "example.org", "badexample.org", "example.com.evil"])
def test_a_domain_outside_the_allow_list_is_403_naming_it_and_the_setting(
    client: Client, settings, certbot_user, rsa_key, domain
) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    response = push(client, auth(rsa_key), domain=domain)
    assert response.status_code == 403
    text = response.content.decode()
    assert domain.lower().rstrip(".") in text
    assert "ACME_CHALLENGE_ALLOWED_DOMAINS" in text
    assert not Challenge.objects.exists()


def test_with_an_allow_list_a_push_without_domain_is_403(client: Client, settings, certbot_user, rsa_key) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ALLOWED
    response = push(client, auth(rsa_key))
    assert response.status_code == 403
    assert response.content.decode().startswith("domain: required here, because ACME_CHALLENGE_ALLOWED_DOMAINS")
    assert not Challenge.objects.exists()


def test_writing_a_challenge_purges_the_expired_ones(client: Client, settings, certbot_user, rsa_key) -> None:
    settings.ACME_CHALLENGE_TTL = 3600
    old = timezone.now() - timedelta(seconds=3601)
    Challenge.objects.create(token="old", validation="old.x", created=old)
    Challenge.objects.create(token="young", validation="young.x", created=timezone.now() - timedelta(seconds=3500))
    assert push(client, auth(rsa_key)).status_code == 201
    assert sorted(Challenge.objects.values_list("token", flat=True)) == sorted([TOKEN, "young"])


@pytest.mark.parametrize("suffix", ["/", ""])
def test_delete_answers_204_then_404_once_gone(client: Client, certbot_user, ed25519_key, suffix) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION)
    Challenge.objects.create(token="other", validation="other.x")
    response = client.delete(API + TOKEN + suffix, headers=auth(ed25519_key))
    assert response.status_code == 204
    assert list(Challenge.objects.values_list("token", flat=True)) == ["other"]
    assert client.get(SERVE + TOKEN).status_code == 404
    response = client.delete(API + TOKEN + suffix, headers=auth(ed25519_key))
    assert response.status_code == 404
    assert response.content.decode() == f"no such challenge: {TOKEN}\n"


def test_delete_of_a_malformed_token_is_404(client: Client, certbot_user, ed25519_key) -> None:
    response = Client(raise_request_exception=False).delete(API + "a.b/", headers=auth(ed25519_key))
    assert response.status_code == 404


def test_the_api_urls_refuse_other_methods_with_405(client: Client, certbot_user, ed25519_key) -> None:
    assert client.get(API, headers=auth(ed25519_key)).status_code == 405
    assert client.post(API + TOKEN + "/", headers=auth(ed25519_key)).status_code == 405
    assert client.put(API + TOKEN + "/", headers=auth(ed25519_key)).status_code == 405
