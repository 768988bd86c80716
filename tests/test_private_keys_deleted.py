"""The harness deletes the private keys a test wrote (tests/conftest.py calls it when each test and the session end):
pytest keeps the last runs' temporary directories, and no key may stay in them. No CA, no lock needed."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import harness as h


def test_private_keys_in_any_form_are_deleted_and_public_files_stay(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    nested = tmp_path / "certbot" / "archive" / "a.example.com"
    nested.mkdir(parents=True)
    private = {
        tmp_path / "certbot.key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        tmp_path / "id_ed25519": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        nested / "privkey1.pem": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    }
    public = {
        tmp_path / "certbot.pub.pem": key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        nested / "notes.txt": b"no key here\n",
    }
    for path, data in {**private, **public}.items():
        path.write_bytes(data)
    (tmp_path / "live-privkey.pem").symlink_to(nested / "privkey1.pem")

    deleted = h.delete_private_keys(tmp_path)

    assert sorted(deleted) == sorted(private)
    assert [path for path in private if path.exists()] == []
    assert [path for path in public if not path.exists()] == []
