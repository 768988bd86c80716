"""The Python equivalent of one auth-hook push, for benchmark P1: PyJWT signs, urllib POSTs.

It does what a user would write instead of our hook: the same asymmetric_jwt_auth token (with the
request-binding claims htm, htu and bsh of issue 11), the same form POST to the same site with the
same key. Usage: bench_push.py KEY_FILE SERVER USERNAME; the challenge comes from CERTBOT_TOKEN,
CERTBOT_VALIDATION and CERTBOT_DOMAIN as for the hook.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sys
import time
import urllib.parse
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def main(key_file: str, server: str, username: str) -> int:
    with open(key_file, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    if not isinstance(key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)):
        print(f"bench_push: {key_file} is not an Ed25519 or RSA private key", file=sys.stderr)
        return 2
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "RS512"
    body = urllib.parse.urlencode(
        {
            "challenge": os.environ["CERTBOT_TOKEN"],
            "response": os.environ["CERTBOT_VALIDATION"],
            "domain": os.environ["CERTBOT_DOMAIN"],
        }
    ).encode()
    url = f"{server}/.well-known/challenges/"
    # The request-binding claims of issue 11 (method, URL, body hash), as the hook sends them.
    body_hash = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    token = jwt.encode(
        {
            "username": username,
            "time": int(time.time()),
            "nonce": secrets.token_urlsafe(16),
            "htm": "POST",
            "htu": url,
            "bsh": body_hash,
        },
        key,
        algorithm=algorithm,
        headers={"kid": hashlib.sha256(public_pem).hexdigest()},
    )
    request = urllib.request.Request(url, data=body, headers={"Authorization": f"JWT {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return 0 if response.status in (200, 201) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
