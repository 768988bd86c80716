"""Who may push and delete: only a valid, unreplayed JWT from an active user with the model permission.

Every bad credential answers 401 (with ``WWW-Authenticate: JWT``), never 500, and stores nothing.
"""

from __future__ import annotations

import logging
import time

import jwt
import pytest
from asymmetric_jwt_auth.keys import Ed25519PrivateKey, RSAPrivateKey
from django.test import Client

from acme_challenge.models import Challenge

from .conftest import API, TOKEN, VALIDATION, auth, b64, bound_auth, claims, delete, form, make_user, push, raw_jwt

pytestmark = pytest.mark.django_db


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "JWT"
    assert response["Content-Type"].startswith("text/plain")
    assert not Challenge.objects.exists()


def test_tokens_signed_with_rsa_or_ed25519_keys_are_accepted(client: Client, certbot_user, any_key) -> None:
    assert push(client, any_key).status_code == 201
    assert delete(client, any_key).status_code == 204


def test_a_push_without_authorization_is_401_asking_for_a_jwt(client: Client, certbot_user) -> None:
    response = push(client, headers={})
    assert_unauthenticated(response)
    assert "manage.py certbot_client" in response.content.decode()


def test_a_delete_without_authorization_is_401_and_deletes_nothing(client: Client, certbot_user) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION)
    response = client.delete(API + TOKEN + "/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "JWT"
    assert Challenge.objects.exists()


def _signed(key, header: dict | None = None, **claim_overrides) -> str:
    """A JWT signed correctly by ``key`` but with chosen claims or header."""
    algorithm = key.public_key.allowed_algorithms[0]
    return jwt.encode(claims(**claim_overrides), key.as_pem, algorithm=algorithm, headers=header)


def _bad_credentials(rsa_key: RSAPrivateKey, ed25519_key: Ed25519PrivateKey) -> dict[str, str]:
    stranger = Ed25519PrivateKey.generate()
    now = int(time.time())
    public_pem = rsa_key.public_key.as_pem
    return {
        "only-the-scheme": "JWT",
        "scheme-and-space": "JWT ",
        "bearer-scheme": "Bearer " + bare_token(ed25519_key),
        "basic-scheme": "Basic Y2VydGJvdDpwYXNzd29yZA==",
        "garbage": "JWT not-a-jwt",
        "three-garbage-parts": "JWT a.b.c",
        "supported-alg-garbage-payload": "JWT " + b64(b'{"alg":"RS512"}') + ".!!!.x",
        "supported-alg-payload-not-an-object": "JWT " + raw_jwt({"alg": "EdDSA"}, b"[1, 2]"),
        "supported-alg-payload-not-base64": "JWT " + b64(b'{"alg":"RS512","typ":"JWT"}') + ".%%%.sig",
        "supported-alg-non-utf8-payload": "JWT " + raw_jwt({"alg": "RS512"}, b"\xff\xfe\xfd"),
        "alg-none": "JWT " + jwt.encode(claims(), None, algorithm="none"),
        "alg-none-raw": "JWT " + raw_jwt({"alg": "none", "typ": "JWT"}, claims(), b""),
        "alg-not-a-string": "JWT " + raw_jwt({"alg": ["RS512"]}, claims()),
        "hs256-with-the-public-key-as-secret": "JWT " + raw_hs256(public_pem),
        "hs256-with-a-random-secret": "JWT " + jwt.encode(claims(), "s" * 32, algorithm="HS256"),
        "rs512-forged-signature": "JWT " + raw_jwt({"alg": "RS512"}, claims(), b"\x01" * 256),
        "eddsa-forged-signature": "JWT " + raw_jwt({"alg": "EdDSA"}, claims(), b"\x01" * 64),
        "unregistered-key": "JWT " + _signed(stranger),
        "unregistered-key-with-a-registered-kid": "JWT "
        + _signed(stranger, header={"kid": ed25519_key.public_key.fingerprint}),
        "registered-key-with-a-bad-kid-and-another-users-name": "JWT " + _signed(ed25519_key, username="admin"),
        "unknown-user": "JWT " + _signed(ed25519_key, username="nobody"),
        "username-not-a-string": "JWT " + _signed(ed25519_key, username=42),
        "no-username": "JWT " + jwt.encode({"time": now, "nonce": "x"}, ed25519_key.as_pem, algorithm="EdDSA"),
        "time-too-old": "JWT " + _signed(ed25519_key, time=now - 60),
        "time-in-the-future": "JWT " + _signed(ed25519_key, time=now + 60),
        "time-a-string": "JWT " + _signed(ed25519_key, time="now"),
        "time-missing": "JWT " + _signed(ed25519_key, time=0),
        "nonce-a-list": "JWT " + _signed(ed25519_key, nonce=["a"]),
        "nonce-empty": "JWT " + _signed(ed25519_key, nonce=""),
        "nonce-with-nul": "JWT " + _signed(ed25519_key, nonce="a\x00b"),
        "nonce-too-long": "JWT " + _signed(ed25519_key, nonce="n" * 1000),
        "rsa-signed-but-claims-eddsa": "JWT "
        + b64(b'{"alg":"EdDSA","typ":"JWT"}')
        + "."
        + _signed(rsa_key).split(".", 1)[1],
        "truncated-signature": "JWT " + _signed(rsa_key)[:-10],
        "huge-header": "JWT " + "a" * 60_000,
    }


def bare_token(key) -> str:
    return auth(key)["Authorization"].split(" ", 1)[1]


def raw_hs256(secret: bytes) -> str:
    """HS256 keyed with the RSA public key PEM: the classic algorithm-confusion forgery. PyJWT refuses to make it
    (it knows the key is asymmetric), so it is built by hand."""
    import hashlib
    import hmac
    import json

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


BAD_CREDENTIAL_NAMES = [
    "only-the-scheme",
    "scheme-and-space",
    "bearer-scheme",
    "basic-scheme",
    "garbage",
    "three-garbage-parts",
    "supported-alg-garbage-payload",
    "supported-alg-payload-not-an-object",
    "supported-alg-payload-not-base64",
    "supported-alg-non-utf8-payload",
    "alg-none",
    "alg-none-raw",
    "alg-not-a-string",
    "hs256-with-the-public-key-as-secret",
    "hs256-with-a-random-secret",
    "rs512-forged-signature",
    "eddsa-forged-signature",
    "unregistered-key",
    "unregistered-key-with-a-registered-kid",
    "registered-key-with-a-bad-kid-and-another-users-name",
    "unknown-user",
    "username-not-a-string",
    "no-username",
    "time-too-old",
    "time-in-the-future",
    "time-a-string",
    "time-missing",
    "nonce-a-list",
    "nonce-empty",
    "nonce-with-nul",
    "nonce-too-long",
    "rsa-signed-but-claims-eddsa",
    "truncated-signature",
    "huge-header",
]


@pytest.mark.parametrize("name", BAD_CREDENTIAL_NAMES)
def test_bad_credentials_are_401_never_500(name: str, certbot_user, rsa_key, ed25519_key) -> None:
    make_user("admin", [], ("add_challenge",))
    header = _bad_credentials(rsa_key, ed25519_key)[name]
    client = Client(raise_request_exception=False)
    assert_unauthenticated(push(client, headers={"Authorization": header}))
    response = delete(client, headers={"Authorization": header})
    assert response.status_code == 401


def test_every_bad_credential_case_is_exercised(rsa_key, ed25519_key) -> None:
    assert sorted(BAD_CREDENTIAL_NAMES) == sorted(_bad_credentials(rsa_key, ed25519_key))


def pushed_body() -> bytes:
    return form(challenge=TOKEN, response=VALIDATION, domain="example.com")


def test_a_replayed_token_is_refused(client: Client, certbot_user, ed25519_key) -> None:
    headers = bound_auth(ed25519_key, "POST", API, pushed_body())
    assert push(client, headers=headers).status_code == 201
    Challenge.objects.all().delete()
    assert_unauthenticated(push(client, headers=headers))


def test_a_replayed_token_is_refused_for_another_method_too(client: Client, certbot_user, rsa_key) -> None:
    headers = bound_auth(rsa_key, "POST", API, pushed_body())
    assert push(client, headers=headers).status_code == 201
    assert delete(client, headers=headers).status_code == 401
    assert Challenge.objects.exists()


def test_an_inactive_user_is_refused_with_401(client: Client, db, ed25519_key) -> None:
    make_user("certbot", [ed25519_key], ("add_challenge", "delete_challenge"), is_active=False)
    assert_unauthenticated(push(client, ed25519_key))


def test_an_inactive_superuser_is_refused_with_401(client: Client, db, ed25519_key) -> None:
    make_user("certbot", [ed25519_key], (), is_active=False, is_superuser=True)
    assert_unauthenticated(push(client, ed25519_key))


def test_a_user_without_the_add_permission_gets_403_on_push(client: Client, db, ed25519_key) -> None:
    make_user("certbot", [ed25519_key], ("delete_challenge",))
    response = push(client, ed25519_key)
    assert response.status_code == 403
    assert "acme_challenge.add_challenge" in response.content.decode()
    assert "manage.py certbot_client certbot" in response.content.decode()
    assert not Challenge.objects.exists()


def test_a_user_without_the_delete_permission_gets_403_on_delete(client: Client, db, ed25519_key) -> None:
    make_user("certbot", [ed25519_key], ("add_challenge",))
    Challenge.objects.create(token=TOKEN, validation=VALIDATION)
    response = delete(client, ed25519_key)
    assert response.status_code == 403
    assert "acme_challenge.delete_challenge" in response.content.decode()
    assert Challenge.objects.exists()


def test_a_staff_user_without_permissions_gets_403(client: Client, db, ed25519_key) -> None:
    make_user("certbot", [ed25519_key], (), is_staff=True)
    assert push(client, ed25519_key).status_code == 403


def test_a_superuser_with_a_key_may_push(client: Client, db, rsa_key) -> None:
    make_user("root", [rsa_key], (), is_superuser=True)
    assert push(client, rsa_key, username="root").status_code == 201


def test_a_logged_in_session_does_not_authorize_the_api(client: Client, db) -> None:
    admin = make_user("admin", [], ("add_challenge", "delete_challenge"), is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert_unauthenticated(push(client, headers={}))


def test_a_session_cannot_lend_its_user_to_a_bad_jwt(client: Client, db, rsa_key) -> None:
    admin = make_user("admin", [], (), is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert_unauthenticated(push(client, headers={"Authorization": "JWT garbage"}))


def test_csrf_protection_does_not_block_a_jwt_client(db, certbot_user, ed25519_key) -> None:
    client = Client(enforce_csrf_checks=True)
    assert push(client, ed25519_key).status_code == 201
    assert delete(client, ed25519_key).status_code == 204


def test_a_jwt_is_not_written_to_the_log_when_it_is_rejected(client: Client, certbot_user, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="acme_challenge")
    forged = raw_jwt({"alg": "RS512"}, b"[1, 2]")
    assert push(client, headers={"Authorization": "JWT " + forged}).status_code == 401
    assert "JWT refused: the JWT is malformed (DecodeError)" in caplog.text
    for part in forged.split("."):
        assert part not in caplog.text
