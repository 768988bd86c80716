"""Verify JWTs made by the Rust hooks with the real verifier, asymmetric_jwt_auth.

Reads JSON on stdin: {"cases": [{"name", "username", "public_pem", "private_pem", "kid",
"token", "method", "url", "body"}]}. For each case it checks that asymmetric_jwt_auth's
``UntrustedToken.verify`` accepts the token with the public key, that the ``kid`` header equals
``PublicKey.fingerprint`` (for the public key, and for the public half of the private key as Python
loads it), that the claims are what the server reads, that the request-binding claims name the
request (``htm`` the method, ``htu`` the URL, ``bsh`` the unpadded base64url SHA-256 of the body,
computed here with hashlib), that no registered claim an older verifier would check is present,
and that a replayed token is refused. Prints one line per case; exits 1 on the first failure.
"""

import base64
import hashlib
import json
import sys

import django
from django.conf import settings

settings.configure(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    INSTALLED_APPS=[],
)
django.setup()

import jwt  # noqa: E402  (after settings.configure)
from asymmetric_jwt_auth.keys import PrivateKey, PublicKey  # noqa: E402
from asymmetric_jwt_auth.tokens import UntrustedToken  # noqa: E402


def check(case: dict[str, str]) -> None:
    name = case["name"]
    public_key = PublicKey.load_pem(case["public_pem"].encode())
    if public_key.fingerprint != case["kid"]:
        raise AssertionError(f"{name}: kid {case['kid']} != PublicKey.fingerprint {public_key.fingerprint}")
    private_key = PrivateKey.load_pem(case["private_pem"].encode())
    if private_key.public_key.fingerprint != case["kid"]:
        raise AssertionError(f"{name}: kid differs from the fingerprint of the private key's public half")
    if public_key.as_pem != case["public_pem"].encode():
        raise AssertionError(f"{name}: public PEM differs from cryptography's serialization")

    untrusted = UntrustedToken(case["token"])
    header = jwt.get_unverified_header(case["token"])
    if header.get("kid") != case["kid"] or header.get("typ") != "JWT":
        raise AssertionError(f"{name}: bad header {header}")
    if header.get("alg") != public_key.allowed_algorithms[0]:
        raise AssertionError(f"{name}: alg {header.get('alg')} is not {public_key.allowed_algorithms[0]}")
    if untrusted.get_claimed_key_id() != case["kid"]:
        raise AssertionError(f"{name}: get_claimed_key_id differs")
    if untrusted.get_claimed_username() != case["username"]:
        raise AssertionError(f"{name}: claimed username differs")
    claims = jwt.decode(case["token"], options={"verify_signature": False})
    if not isinstance(claims.get("time"), int) or len(claims.get("nonce", "")) < 22:
        raise AssertionError(f"{name}: time must be an int and the nonce at least 128 bits: {claims}")
    body_hash = base64.urlsafe_b64encode(hashlib.sha256(case["body"].encode()).digest()).rstrip(b"=").decode()
    expected = {"htm": case["method"], "htu": case["url"], "bsh": body_hash}
    bound = {claim: claims.get(claim) for claim in expected}
    if bound != expected:
        raise AssertionError(f"{name}: request binding {bound} != {expected}")
    registered = sorted({"aud", "iss", "exp", "nbf", "iat"} & claims.keys())
    if registered:
        raise AssertionError(f"{name}: registered claims {registered} would be checked by older verifiers")

    token = untrusted.verify(public_key)
    if token is None:
        raise AssertionError(f"{name}: asymmetric_jwt_auth refused the token")
    if token.username != case["username"]:
        raise AssertionError(f"{name}: verified username {token.username!r}")
    if UntrustedToken(case["token"]).verify(public_key) is not None:
        raise AssertionError(f"{name}: a replayed token was accepted")
    print(f"ok {name}")


def main() -> int:
    cases = json.load(sys.stdin)["cases"]
    if not cases:
        raise AssertionError("no cases given")
    for case in cases:
        check(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
