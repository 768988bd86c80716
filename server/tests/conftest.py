"""Keys, the certbot user and JWT helpers shared by the tests. Tokens are made by asymmetric_jwt_auth's own ``Token``
class, the same code a Python client would use, so the tests pin the protocol rather than our reading of it."""

from __future__ import annotations

import base64
import json
import time

import pytest
from asymmetric_jwt_auth.keys import Ed25519PrivateKey, FacadePrivateKey, RSAPrivateKey
from asymmetric_jwt_auth.models import PublicKey
from asymmetric_jwt_auth.tokens import Token
from django.contrib.auth.models import Permission, User
from django.test import Client

API = "/.well-known/challenges/"
SERVE = "/.well-known/acme-challenge/"

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
VALIDATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@pytest.fixture(scope="session")
def rsa_key() -> RSAPrivateKey:
    return RSAPrivateKey.generate()


@pytest.fixture(scope="session")
def ed25519_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


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
    """Request headers carrying a fresh JWT (new nonce) signed by ``key``."""
    return {"Authorization": Token(username, timestamp).create_auth_header(key)}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header: dict, claims: dict | bytes, signature: bytes = b"sig") -> str:
    body = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return f"{b64(json.dumps(header).encode())}.{b64(body)}.{b64(signature)}"


def claims(username: str = "certbot", **extra) -> dict:
    return {"username": username, "time": int(time.time()), "nonce": f"n{time.monotonic_ns()}", **extra}


def push(client: Client, headers: dict[str, str], token: str = TOKEN, validation: str = VALIDATION, **fields):
    return client.post(API, {"challenge": token, "response": validation, **fields}, headers=headers)
