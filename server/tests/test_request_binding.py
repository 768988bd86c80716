"""Request-bound tokens: a JWT names the method, the URL (host and path, not scheme) and the SHA-256 of the body of
the one request it was made for, so a token captured on its way (a wrong ``--server``, a proxy) cannot carry another
challenge to the real site. Tokens without the claims pass only for the users ``ACME_CHALLENGE_LEGACY_CLIENTS`` names
(``True``: every user), and only on push and delete."""

from __future__ import annotations

import json
import random
import time

import jwt
import pytest
from django.test import Client

from acme_challenge.models import Challenge

from .conftest import API, FORM, TOKEN, VALIDATION, auth, body_hash, bound_auth, delete, form, push, sign

pytestmark = pytest.mark.django_db

BODY = form(challenge=TOKEN, response=VALIDATION, domain="example.com")
MISSING = (
    "JWT lacks the request-binding claims htm, htu, bsh: upgrade the client, or, for the original certbot-django "
    "plugin, name user 'certbot' in ACME_CHALLENGE_LEGACY_CLIENTS on the site\n"
)


def post(client: Client, headers: dict[str, str], body: bytes = BODY, path: str = API, **extra):
    return client.post(path, body, content_type=FORM, headers=headers, **extra)


def assert_refused(response, message: str) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "JWT"
    assert response.content.decode() == message
    assert not Challenge.objects.exists()


def test_a_token_bound_to_the_request_is_accepted(client: Client, certbot_user, ed25519_key) -> None:
    assert post(client, bound_auth(ed25519_key, "POST", API, BODY)).status_code == 201


def test_a_token_without_the_binding_claims_is_refused_naming_the_setting(client, certbot_user, rsa_key) -> None:
    assert_refused(post(client, auth(rsa_key)), MISSING)


def test_a_token_captured_and_sent_with_another_body_is_refused(client: Client, certbot_user, ed25519_key) -> None:
    headers = bound_auth(ed25519_key, "POST", API, BODY)
    other = form(challenge="other", response="other.x", domain="example.com")
    assert_refused(post(client, headers, other), "JWT body hash does not match the request body\n")


def test_a_refused_replay_does_not_spend_the_nonce_of_the_request_it_was_made_for(
    client: Client, certbot_user, ed25519_key
) -> None:
    headers = bound_auth(ed25519_key, "POST", API, BODY)
    assert post(client, headers, form(challenge="other", response="other.x", domain="x.example.com")).status_code == 401
    assert post(client, headers).status_code == 201


def test_a_token_made_for_another_site_is_refused_naming_both_hosts(client: Client, certbot_user, ed25519_key) -> None:
    headers = bound_auth(ed25519_key, "POST", API, BODY, host="a.example.com")
    response = post(client, {**headers, "Host": "b.example.com"})
    assert_refused(
        response,
        "JWT is bound to POST https://a.example.com/.well-known/challenges/ but this request is POST to host "
        "'b.example.com' path '/.well-known/challenges/'\n",
    )


def test_a_token_made_for_a_delete_is_refused_on_a_push(client: Client, certbot_user, ed25519_key) -> None:
    headers = bound_auth(ed25519_key, "DELETE", API + TOKEN + "/")
    assert_refused(
        post(client, headers),
        f"JWT is bound to DELETE https://testserver{API}{TOKEN}/ but this request is POST to host 'testserver' "
        f"path '{API}'\n",
    )


def test_a_token_for_one_challenges_delete_cannot_delete_another(client: Client, certbot_user, ed25519_key) -> None:
    Challenge.objects.create(token="other", validation="other.x", owner=certbot_user)
    headers = bound_auth(ed25519_key, "DELETE", API + TOKEN + "/")
    response = delete(client, token="other", headers=headers)
    assert response.status_code == 401
    assert response.content.decode().startswith(f"JWT is bound to DELETE https://testserver{API}{TOKEN}/ but")
    assert Challenge.objects.filter(token="other").exists()


def test_a_trailing_slash_difference_is_a_mismatch(client: Client, certbot_user, ed25519_key) -> None:
    headers = bound_auth(ed25519_key, "POST", "/.well-known/challenges", BODY)
    response = post(client, headers)
    assert response.status_code == 401
    assert "path '/.well-known/challenges/'" in response.content.decode()


@pytest.mark.parametrize(
    ("htu", "host"),
    [
        ("http://testserver/.well-known/challenges/", "testserver"),
        ("https://testserver:8443/.well-known/challenges/", "testserver:8000"),
        ("https://EXAMPLE.com./.well-known/challenges/", "example.COM"),
        ("https://[2001:DB8:0:0::1]/.well-known/challenges/", "[2001:db8::1]:443"),
    ],
    ids=["scheme-differs", "port-differs", "case-and-trailing-dot", "ipv6-forms"],
)
def test_scheme_port_case_and_trailing_dot_do_not_matter(client, certbot_user, ed25519_key, htu, host) -> None:
    headers = {"Authorization": "JWT " + sign(ed25519_key, htm="POST", htu=htu, bsh=body_hash(BODY))}
    assert post(client, {**headers, "Host": host}).status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_host_is_compared(client, settings, certbot_user, ed25519_key) -> None:
    settings.USE_X_FORWARDED_HOST = True
    headers = bound_auth(ed25519_key, "POST", API, BODY, host="example.com")
    assert post(client, {**headers, "Host": "backend", "X-Forwarded-Host": "example.com"}).status_code == 201


def test_a_json_body_is_hashed_byte_for_byte(client: Client, certbot_user, ed25519_key) -> None:
    body = json.dumps({"challenge": TOKEN, "response": VALIDATION, "domain": "example.com"}).encode()
    headers = bound_auth(ed25519_key, "POST", API, body)
    assert client.post(API, body, content_type="application/json", headers=headers).status_code == 201
    Challenge.objects.all().delete()
    respaced = body.replace(b": ", b":")
    headers = bound_auth(ed25519_key, "POST", API, body)
    response = client.post(API, respaced, content_type="application/json", headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (
            {"htm": "POST"},
            "JWT lacks the request-binding claim htu, bsh beside htm: a client sends all three or none\n",
        ),
        (
            {"htm": "POST", "htu": f"https://testserver{API}", "bsh": 5},
            "JWT request-binding claims htm, htu and bsh must be strings\n",
        ),
        ({"htm": "POST", "htu": "not a url", "bsh": body_hash(BODY)}, None),
    ],
    ids=["partial", "not-a-string", "not-a-url"],
)
def test_malformed_binding_claims_are_refused(client, settings, certbot_user, ed25519_key, claims, message) -> None:
    for legacy in (False, True):
        settings.ACME_CHALLENGE_LEGACY_CLIENTS = legacy
        response = post(client, {"Authorization": "JWT " + sign(ed25519_key, **claims)})
        assert response.status_code == 401
        if message:
            assert response.content.decode() == message


class TestLegacyClients:
    """``ACME_CHALLENGE_LEGACY_CLIENTS = True``: what the original certbot-django client sends is accepted."""

    @pytest.fixture(autouse=True)
    def legacy(self, settings) -> None:
        settings.ACME_CHALLENGE_LEGACY_CLIENTS = True

    def test_an_unbound_token_and_a_push_without_domain_are_accepted(self, client, certbot_user, rsa_key) -> None:
        # The old client posted a multipart form, without domain, signed by asymmetric_jwt_auth's Token.
        response = client.post(API, {"challenge": TOKEN, "response": VALIDATION}, headers=auth(rsa_key))
        assert response.status_code == 201
        assert Challenge.objects.get().domain == ""
        assert client.delete(API + TOKEN + "/", headers=auth(rsa_key)).status_code == 204

    def test_the_original_clients_tokens_with_float_time_and_nonce_are_accepted(
        self, client, certbot_user, rsa_key
    ) -> None:
        # What asymmetric-jwt-auth 0.4.1's sign() makes for certbot-django 0.2.0: RS512, no kid, floats.
        def old_token() -> dict[str, str]:
            claims = {"username": "certbot", "time": time.time(), "nonce": random.random()}  # noqa: S311
            return {"Authorization": "JWT " + jwt.encode(claims, rsa_key.as_pem, algorithm="RS512")}

        body = form(challenge=TOKEN, response=VALIDATION)
        assert client.post(API, body, content_type=FORM, headers=old_token()).status_code == 201
        assert client.delete(API + TOKEN + "/", headers=old_token()).status_code == 204

    def test_a_challenge_without_domain_is_served_for_any_host(self, client, certbot_user, rsa_key) -> None:
        client.post(API, {"challenge": TOKEN, "response": VALIDATION}, headers=auth(rsa_key))
        for host in ("example.com", "other.example.org"):
            assert client.get(f"/.well-known/acme-challenge/{TOKEN}", headers={"Host": host}).status_code == 200

    def test_a_bound_token_must_still_match(self, client, certbot_user, ed25519_key) -> None:
        headers = bound_auth(ed25519_key, "POST", API, BODY)
        response = post(client, headers, form(challenge="other", response="other.x"))
        assert_refused(response, "JWT body hash does not match the request body\n")

    def test_an_unbound_token_is_still_refused_when_replayed(self, client, certbot_user, rsa_key) -> None:
        headers = auth(rsa_key)
        assert push(client, headers=headers).status_code == 201
        assert push(client, headers=headers).status_code == 401
