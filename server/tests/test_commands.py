"""``certbot_client`` (set-up, idempotency, key forms, listing, rotation) and ``acme_challenge_purge``."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
from asymmetric_jwt_auth.models import PublicKey
from cryptography.hazmat.primitives import serialization
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from acme_challenge.models import Challenge, UsedNonce

from .conftest import push

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: bytes | None = None, monkeypatch=None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def pem_file(tmp_path, key, name: str = "certbot.pub"):
    path = tmp_path / name
    path.write_bytes(key.public_key.as_pem)
    return path


def openssh_file(tmp_path, key, name: str = "id.pub", comment: str = "certbot@host"):
    line = key._key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path = tmp_path / name
    path.write_bytes(line + f" {comment}\n".encode())
    return path


def permissions(user: User) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all()}


HOOK_PERMISSIONS = {
    "acme_challenge.add_challenge",
    "acme_challenge.delete_challenge",
    "acme_challenge.add_certificatereport",
}


def test_certbot_client_creates_an_active_user_with_exactly_the_hook_permissions(tmp_path, ed25519_key) -> None:
    out, err = run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, ed25519_key)))
    user = User.objects.get(username="certbot")
    assert user.is_active
    assert not user.is_staff
    assert not user.is_superuser
    assert not user.has_usable_password()
    assert permissions(user) == HOOK_PERMISSIONS
    assert PublicKey.objects.get(user=user).get_key().fingerprint == ed25519_key.public_key.fingerprint
    assert "created user 'certbot'" in out
    assert f"registered Ed25519 key {ed25519_key.public_key.fingerprint} (certbot.pub)" in out
    assert err == ""


def test_the_registered_key_authenticates_pushes(tmp_path, rsa_key) -> None:
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, rsa_key)))
    assert push(Client(), rsa_key).status_code == 201


def test_running_certbot_client_again_changes_nothing_and_says_so(tmp_path, ed25519_key) -> None:
    key_file = str(pem_file(tmp_path, ed25519_key))
    run("certbot_client", "certbot", "--public-key-file", key_file)
    out, _ = run("certbot_client", "certbot", "--public-key-file", key_file)
    assert PublicKey.objects.count() == 1
    assert "user 'certbot' exists and is active" in out
    assert "permissions already exactly" in out
    assert "is already registered for 'certbot'; nothing to do" in out


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_an_openssh_key_is_registered_and_is_the_same_key_as_its_pem_form(
    tmp_path, rsa_key, ed25519_key, key_type
) -> None:
    key = rsa_key if key_type == "rsa" else ed25519_key
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(openssh_file(tmp_path, key)))
    assert "(certbot@host)" in out
    assert PublicKey.objects.get().comment == "certbot@host"
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, key)))
    assert PublicKey.objects.count() == 1
    assert push(Client(), key).status_code == 201


def test_a_key_is_read_from_standard_input(monkeypatch, ed25519_key) -> None:
    out, _ = run(
        "certbot_client", "certbot", "--public-key-file", "-", "--comment", "rotated 2026",
        stdin=ed25519_key.public_key.as_pem, monkeypatch=monkeypatch,
    )  # fmt: skip
    stored = PublicKey.objects.get()
    assert stored.comment == "rotated 2026"
    assert stored.get_key().fingerprint == ed25519_key.public_key.fingerprint
    assert "registered Ed25519 key" in out


def test_an_existing_user_is_reactivated_and_gets_exactly_the_hook_permissions(tmp_path, ed25519_key) -> None:
    user = User.objects.create_user("certbot", password="kept-password", is_active=False)
    user.user_permissions.set(Permission.objects.filter(codename__in=["add_challenge", "change_user"]))
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, ed25519_key)))
    user.refresh_from_db()
    assert user.is_active
    assert permissions(user) == HOOK_PERMISSIONS
    assert user.check_password("kept-password")
    assert "activated user 'certbot'" in out
    assert "granted permission acme_challenge.delete_challenge" in out
    assert "revoked permission auth.change_user" in out


def test_a_superuser_or_grouped_account_is_left_alone_but_warned_about(tmp_path, ed25519_key) -> None:
    user = User.objects.create_superuser("admin", password="x")
    user.groups.add(Group.objects.create(name="ops"))
    _, err = run("certbot_client", "admin", "--public-key-file", str(pem_file(tmp_path, ed25519_key)))
    user.refresh_from_db()
    assert user.is_superuser
    assert "warning: 'admin' is a superuser; a dedicated account for certbot is safer" in err
    assert "belongs to groups" in err


def test_a_private_key_is_refused_without_echoing_it_and_nothing_is_written(tmp_path, ed25519_key) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(ed25519_key.as_pem)
    try:
        with pytest.raises(CommandError) as caught:
            run("certbot_client", "certbot", "--public-key-file", str(path))
    finally:
        path.unlink()  # pytest keeps tmp_path; a private key must not stay in it
    message = str(caught.value)
    assert "holds a private key" in message
    assert "openssl pkey -in KEY -pubout" in message
    for line in ed25519_key.as_pem.decode().splitlines()[1:-1]:
        assert line not in message
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not a key", "is not a public key in PEM"),
        (b"", "is not a public key in PEM"),
        (b"ssh-dss AAAAB3NzaC1kc3MAAACBAP", "is not a public key in PEM"),
    ],
)
def test_a_file_that_is_not_a_usable_public_key_is_refused_and_nothing_is_written(tmp_path, content, words) -> None:
    path = tmp_path / "x.pub"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=words):
        run("certbot_client", "certbot", "--public-key-file", str(path))
    assert not User.objects.exists()


def test_a_missing_key_file_is_refused_naming_it(tmp_path) -> None:
    with pytest.raises(CommandError, match=r"cannot read public key file .*missing.pub: No such file"):
        run("certbot_client", "certbot", "--public-key-file", str(tmp_path / "missing.pub"))


def test_list_keys_prints_fingerprint_type_comment_and_last_use(tmp_path, rsa_key, ed25519_key) -> None:
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, rsa_key, "old.pub")))
    run("certbot_client", "certbot", "--public-key-file", str(openssh_file(tmp_path, ed25519_key)))
    assert push(Client(), ed25519_key).status_code == 201
    out, _ = run("certbot_client", "certbot", "--list-keys")
    rsa_line, ed_line = out.splitlines()
    assert rsa_line == f"{rsa_key.public_key.fingerprint}  RSA-2048  old.pub  scope: any name  last used: never"
    assert ed_line.startswith(
        f"{ed25519_key.public_key.fingerprint}  Ed25519  certbot@host  scope: any name  last used: 20"
    )


def test_list_keys_changes_nothing_and_needs_an_existing_user() -> None:
    with pytest.raises(CommandError, match="no user 'certbot'"):
        run("certbot_client", "certbot", "--list-keys")
    assert not User.objects.exists()


def test_rotation_adds_the_new_key_then_removes_the_old_one_by_fingerprint(tmp_path, rsa_key, ed25519_key) -> None:
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, rsa_key, "old.pub")))
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, ed25519_key, "new.pub")))
    out, err = run("certbot_client", "certbot", "--remove-key", rsa_key.public_key.fingerprint)
    assert out == f"removed key {rsa_key.public_key.fingerprint} from 'certbot'\n"
    assert err == ""
    assert [k.get_key().fingerprint for k in PublicKey.objects.all()] == [ed25519_key.public_key.fingerprint]
    assert push(Client(), rsa_key).status_code == 401
    assert push(Client(), ed25519_key, token="t2", validation="t2.x").status_code == 201


def test_a_key_is_removed_by_its_file_or_a_unique_fingerprint_prefix(tmp_path, rsa_key, ed25519_key) -> None:
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, rsa_key, "a.pub")))
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, ed25519_key, "b.pub")))
    run("certbot_client", "certbot", "--remove-key", str(openssh_file(tmp_path, rsa_key)))
    _, err = run("certbot_client", "certbot", "--remove-key", ed25519_key.public_key.fingerprint[:12].upper())
    assert not PublicKey.objects.exists()
    assert "has no keys left" in err


def test_removing_an_unknown_key_fails_listing_the_users_keys(tmp_path, rsa_key) -> None:
    run("certbot_client", "certbot", "--public-key-file", str(pem_file(tmp_path, rsa_key)))
    with pytest.raises(CommandError) as caught:
        run("certbot_client", "certbot", "--remove-key", "0" * 64)
    assert "matches no key of 'certbot'" in str(caught.value)
    assert rsa_key.public_key.fingerprint in str(caught.value)
    assert PublicKey.objects.count() == 1


def test_output_never_contains_key_material(tmp_path, rsa_key) -> None:
    out, err = run("certbot_client", "certbot", "--public-key-file", str(openssh_file(tmp_path, rsa_key)))
    out2, _ = run("certbot_client", "certbot", "--list-keys")
    body = openssh_file(tmp_path, rsa_key).read_text().split()[1]
    pem_lines = rsa_key.public_key.as_pem.decode().splitlines()[1:-1]
    for text in (out, err, out2):
        assert body[:40] not in text
        assert not any(line in text for line in pem_lines)


def test_purge_deletes_expired_challenges_and_stale_nonces_only(settings) -> None:
    settings.ACME_CHALLENGE_TTL = 600
    now = timezone.now()
    Challenge.objects.create(token="old", validation="old.x", created=now - timedelta(seconds=601))
    Challenge.objects.create(token="new", validation="new.x", created=now - timedelta(seconds=599))
    UsedNonce.objects.create(username="u", nonce="stale", timestamp=int(now.timestamp()) - 41)
    UsedNonce.objects.create(username="u", nonce="fresh", timestamp=int(now.timestamp()))
    out, _ = run("acme_challenge_purge")
    assert out == (
        "deleted 1 expired challenge(s) (older than 600 s), 1 used nonce(s), 0 audit record(s) "
        "(older than 90 days) and 0 record(s) of challenge fetches (as old)\n"
    )
    assert list(Challenge.objects.values_list("token", flat=True)) == ["new"]
    assert list(UsedNonce.objects.values_list("nonce", flat=True)) == ["fresh"]
