"""The release hooks as certbot runs them: the environment certbot gives them, their options against a local
site, keys from `auth-hook keygen`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .nginx import Nginx
from .paths import AUTH_HOOK, CLEANUP_HOOK
from .process import HarnessError
from .site import Site


def certbot_env(domain: str, token: str | None = None) -> dict[str, str]:
    """The environment certbot gives a hook for one HTTP-01 challenge, with a fresh token."""
    token = token or secrets.token_urlsafe(32)
    thumbprint = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return {
        "PATH": os.environ["PATH"],
        "CERTBOT_DOMAIN": domain,
        "CERTBOT_IDENTIFIER": domain,
        "CERTBOT_TOKEN": token,
        "CERTBOT_VALIDATION": f"{token}.{thumbprint}",
        "CERTBOT_ALL_DOMAINS": domain,
        "CERTBOT_REMAINING_CHALLENGES": "0",
    }


def keygen(key_file: Path, key_type: str = "ed25519") -> Path:
    """Make a key with auth-hook keygen; returns the public key file."""
    public = key_file.with_suffix(".pub.pem")
    with open(public, "wb") as out:
        subprocess.run(
            [str(AUTH_HOOK), "keygen", "--key-file", str(key_file), "--key-type", key_type],
            check=True,
            stdout=out,
            stderr=subprocess.PIPE,
        )
    return public


def delete_private_keys(directory: Path) -> list[Path]:
    """Delete every file under ``directory`` that holds a PEM or OpenSSH private key (auth-hook keygen's, certbot's
    privkey.pem, a test CA's); returns what it deleted. pytest keeps the last runs' temporary directories, and a
    private key must not outlive the test that made it."""
    deleted = []
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            with open(path, "rb") as file:
                head = file.read(65536)
        except OSError:
            continue
        if b"PRIVATE KEY-----" in head:
            path.unlink()
            deleted.append(path)
    return deleted


def require_built_hooks(
    binaries: Sequence[Path] = (AUTH_HOOK, CLEANUP_HOOK), programs: Sequence[str] = ("pebble",)
) -> None:
    """Fail first, with the command that fixes it, if a release hook is not built or a Debian program is missing."""
    for binary in binaries:
        if not binary.exists():
            raise HarnessError(f"{binary} is missing: run `cargo build --release --bins` (scripts/bootstrap does it)")
    for program in programs:
        if shutil.which(program) is None:
            raise HarnessError(
                f"{program} is not installed: run scripts/bootstrap (it runs `apt-get install {program}`)"
            )


def hook_args(site: Site | Nginx, key_file: Path, *extra: str, username: str = "certbot") -> list[str]:
    """Hook options for the local chain: the API on the site's port, the self-check aimed at it too."""
    return [
        "--server",
        site.url,
        "--username",
        username,
        "--key-file",
        str(key_file),
        "--self-check-url",
        f"http://{{domain}}:{site.port}/.well-known/acme-challenge/{{token}}",
        "--resolve",
        "*:127.0.0.1",
        "--timeout",
        "30",
        *extra,
    ]


def run_hook(binary: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One hook run as certbot makes it: ``env`` is certbot's environment for the challenge (:func:`certbot_env`)."""
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def sign_request(key_file: Path, username: str, method: str, url: str, body: bytes = b"") -> str:
    """A JWT as the hooks make one (scripts/bench_push.py does the same): asymmetric_jwt_auth's claims, kid the key's
    fingerprint, and the request binding of issue 11. An Ed25519 key signs with EdDSA, an RSA key with RS512."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS512"
    else:
        raise HarnessError(f"{key_file}: not an Ed25519 or RSA private key")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {
        "username": username,
        "time": int(time.time()),
        "nonce": secrets.token_urlsafe(16),
        "htm": method,
        "htu": url.split("?")[0],
        "bsh": base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode(),
    }
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": hashlib.sha256(public_pem).hexdigest()})
