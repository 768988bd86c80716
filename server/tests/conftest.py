"""Keys, the certbot user and JWT helpers shared by the tests.

Two kinds of token: :func:`bound_auth` makes them as the hooks do since issue 11 (asymmetric_jwt_auth's claims plus
``htm``, ``htu`` and ``bsh``, signed with PyJWT, ``kid`` the key's fingerprint); :func:`auth` makes them with
asymmetric_jwt_auth's own ``Token`` class, as the original certbot-django client did (no binding), for legacy mode.
:func:`push` and :func:`delete` send requests the way the hooks send them: the form body encoded first, hashed into
the token, and exactly those bytes sent."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import urlencode

import jwt
import pytest
from asymmetric_jwt_auth.keys import Ed25519PrivateKey, FacadePrivateKey, RSAPrivateKey
from asymmetric_jwt_auth.models import PublicKey
from asymmetric_jwt_auth.tokens import Token
from django.contrib.auth.models import Permission, User
from django.test import Client

API = "/.well-known/challenges/"
FORM = "application/x-www-form-urlencoded"
SERVE = "/.well-known/acme-challenge/"

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
VALIDATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@pytest.fixture(scope="session")
def rsa_key() -> RSAPrivateKey:
    return RSAPrivateKey.generate()


@pytest.fixture(scope="session")
def ed25519_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


#: The two permissions the hooks need, as certbot_client grants them.
HOOK_PERMISSIONS = ("add_challenge", "delete_challenge")


@pytest.fixture(scope="module")
def alice_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def bob_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def alice(alice_key: Ed25519PrivateKey) -> User:
    """A user with the hooks' permissions and one Ed25519 key, alice_key."""
    return make_user("alice", [alice_key], HOOK_PERMISSIONS)


@pytest.fixture(params=["rsa", "ed25519"])
def any_key(request, rsa_key, ed25519_key) -> FacadePrivateKey:
    return rsa_key if request.param == "rsa" else ed25519_key


def make_user(username: str, keys: list[FacadePrivateKey], permissions: tuple[str, ...], **fields) -> User:
    user = User.objects.create(username=username, **fields)
    user.set_unusable_password()
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="acme_challenge", codename__in=permissions)
    )
    for key in keys:
        PublicKey.objects.create(user=user, key=key.public_key.as_pem.decode())
    return user


@pytest.fixture
def certbot_user(db, rsa_key, ed25519_key) -> User:
    return make_user("certbot", [rsa_key, ed25519_key], ("add_challenge", "delete_challenge"))


def auth(key: FacadePrivateKey, username: str = "certbot", timestamp: int | None = None) -> dict[str, str]:
    """Request headers carrying a fresh, unbound JWT (new nonce) signed by ``key``: what certbot-django sent."""
    return {"Authorization": Token(username, timestamp).create_auth_header(key)}


def body_hash(body: bytes) -> str:
    return b64(hashlib.sha256(body).digest())


def sign(key: FacadePrivateKey, username: str = "certbot", *, timestamp: int | None = None, **extra) -> str:
    """A JWT with asymmetric_jwt_auth's claims (fresh nonce) and ``extra`` ones, as the hooks sign it."""
    payload = {
        "username": username,
        "time": int(time.time()) if timestamp is None else timestamp,
        "nonce": secrets.token_urlsafe(8),
        **extra,
    }
    algorithm = key.public_key.allowed_algorithms[0]
    return jwt.encode(payload, key.as_pem, algorithm=algorithm, headers={"kid": key.public_key.fingerprint})


def bound_auth(
    key: FacadePrivateKey,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    username: str = "certbot",
    host: str = "testserver",
    **extra,
) -> dict[str, str]:
    """Request headers carrying a JWT bound to ``method``, ``https://<host><path>`` and ``body``."""
    claims = {"htm": method, "htu": f"https://{host}{path}", "bsh": body_hash(body), **extra}
    return {"Authorization": "JWT " + sign(key, username, **claims)}


def form(**fields) -> bytes:
    """A form body as the hooks encode it; fields that are None are left out."""
    return urlencode({name: value for name, value in fields.items() if value is not None}, doseq=True).encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header: dict, claims: dict | bytes, signature: bytes = b"sig") -> str:
    body = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return f"{b64(json.dumps(header).encode())}.{b64(body)}.{b64(signature)}"


def claims(username: str = "certbot", **extra) -> dict:
    return {"username": username, "time": int(time.time()), "nonce": f"n{time.monotonic_ns()}", **extra}


def push(
    client: Client,
    key: FacadePrivateKey | None = None,
    *,
    token: str | None = TOKEN,
    validation: str | None = VALIDATION,
    domain: str | None = "example.com",
    username: str = "certbot",
    headers: dict[str, str] | None = None,
    meta: dict[str, str] | None = None,
    **fields,
):
    """POST a form as the hooks do, with a JWT signed by ``key`` and bound to it, or with ``headers`` as given.
    ``meta`` sets WSGI environ values such as REMOTE_ADDR."""
    body = form(challenge=token, response=validation, domain=domain, **fields)
    if headers is None:
        headers = bound_auth(key, "POST", API, body, username=username) if key is not None else {}
    return client.post(API, body, content_type=FORM, headers=headers, **(meta or {}))


def delete(
    client: Client,
    key: FacadePrivateKey | None = None,
    token: str = TOKEN,
    *,
    suffix: str = "/",
    username: str = "certbot",
    headers: dict[str, str] | None = None,
):
    """DELETE a challenge as the cleanup hook does."""
    path = API + token + suffix
    if headers is None:
        headers = bound_auth(key, "DELETE", path, username=username) if key is not None else {}
    return client.delete(path, headers=headers)


@pytest.fixture(autouse=True)
def _forget_recorded_fetches() -> None:
    """The serving path remembers, per process, which (challenge, address) it recorded; the tests' database reuses
    challenge ids from one test to the next, which a real one never does."""
    from acme_challenge import monitoring

    monitoring._recorded_here.clear()
