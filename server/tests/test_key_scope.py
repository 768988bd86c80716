"""Per-key domain scope, as ``from=`` limits a key in ``authorized_keys``: a key limited to some names can push only
for them (403 naming the key's fingerprint and scope otherwise); the site-wide allow-list still applies."""

from __future__ import annotations

import io

import pytest
from asymmetric_jwt_auth.models import PublicKey
from django.contrib.auth.models import User
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import Client

from acme_challenge.checks import check_key_scopes
from acme_challenge.conf import conf
from acme_challenge.models import Challenge, KeyScope

from .conftest import delete, make_user, push

pytestmark = pytest.mark.django_db

SCOPE = ["a.example.com", "*.a.example.com"]


@pytest.fixture
def scoped(certbot_user, ed25519_key) -> PublicKey:
    key = next(k for k in PublicKey.objects.all() if k.get_key().fingerprint == ed25519_key.public_key.fingerprint)
    for pattern in SCOPE:
        KeyScope.objects.create(key=key, pattern=pattern)
    return key


@pytest.mark.parametrize("domain", ["a.example.com", "www.a.example.com", "x.y.a.example.com", "A.Example.COM"])
def test_a_scoped_key_may_push_for_its_names(client: Client, scoped, ed25519_key, domain) -> None:
    assert push(client, ed25519_key, domain=domain).status_code == 201


@pytest.mark.parametrize("domain", ["b.example.com", "example.com", "xa.example.com", "a.example.com.evil"])
def test_a_push_outside_the_scope_is_403_naming_the_key_and_its_scope(client, scoped, ed25519_key, domain) -> None:
    response = push(client, ed25519_key, domain=domain)
    assert response.status_code == 403
    assert response.content.decode() == (
        f"domain: '{domain}' is outside the scope of key {ed25519_key.public_key.fingerprint} "
        "(a.example.com, *.a.example.com); widen the scope on the site: manage.py certbot_client certbot "
        "--public-key-file KEY --domain PATTERN ...\n"
    )
    assert not Challenge.objects.exists()


def test_the_users_other_key_is_not_limited_by_this_ones_scope(client: Client, scoped, rsa_key) -> None:
    assert push(client, rsa_key, domain="b.example.com").status_code == 201


def test_the_site_wide_allow_list_still_applies(client: Client, settings, scoped, ed25519_key) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["www.a.example.com"]
    assert push(client, ed25519_key, domain="www.a.example.com").status_code == 201
    response = push(client, ed25519_key, token="t2", validation="t2.x", domain="a.example.com")
    assert response.status_code == 403
    assert "ACME_CHALLENGE_ALLOWED_DOMAINS" in response.content.decode()


def test_a_scoped_key_cannot_push_without_domain_even_for_legacy_clients(client, settings, scoped, ed25519_key):
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = True
    response = push(client, ed25519_key, domain=None)
    assert response.status_code == 403
    assert response.content.decode().startswith("domain: '(none given)' is outside the scope of key")


def test_a_scoped_key_cannot_delete_an_unowned_row_outside_its_scope(client: Client, scoped, ed25519_key) -> None:
    Challenge.objects.create(token="old", validation="old.x", domain="b.example.com")
    assert delete(client, ed25519_key, "old").status_code == 404
    Challenge.objects.create(token="old2", validation="old2.x", domain="www.a.example.com")
    assert delete(client, ed25519_key, "old2").status_code == 204
    assert list(Challenge.objects.values_list("token", flat=True)) == ["old"]


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_certbot_client_domain_limits_the_key_and_list_keys_shows_it(tmp_path, ed25519_key) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(ed25519_key.public_key.as_pem)
    fingerprint = ed25519_key.public_key.fingerprint
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(path), "--domain", "A.example.com.",
                 "--domain", "*.a.example.com", "--domain", "a.example.com")  # fmt: skip
    assert f"key {fingerprint} may push only for a.example.com, *.a.example.com" in out
    assert list(KeyScope.objects.values_list("pattern", flat=True)) == SCOPE
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(path))
    assert f"key {fingerprint} keeps its scope: a.example.com, *.a.example.com" in out
    out, _ = run("certbot_client", "certbot", "--list-keys")
    assert out == f"{fingerprint}  Ed25519  k.pub  scope: a.example.com, *.a.example.com  last used: never\n"
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(path), "--domain", "b.example.com")
    assert list(KeyScope.objects.values_list("pattern", flat=True)) == ["b.example.com"]
    assert push(Client(), ed25519_key, domain="a.example.com").status_code == 403


def test_certbot_client_without_domain_says_the_new_key_may_push_for_any_name(tmp_path, ed25519_key) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(ed25519_key.public_key.as_pem)
    out, _ = run("certbot_client", "certbot", "--public-key-file", str(path))
    assert "may push for any name the site allows (limit it with --domain)" in out
    out, _ = run("certbot_client", "certbot", "--list-keys")
    assert "scope: any name" in out


@pytest.mark.parametrize(
    ("pattern", "words"),
    [("bad name", "a hostname may only contain"), ("*.*.example.com", "wildcard"), ("*.192.0.2.1", "IP address")],
)
def test_certbot_client_refuses_a_malformed_domain_and_writes_nothing(tmp_path, ed25519_key, pattern, words) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(ed25519_key.public_key.as_pem)
    with pytest.raises(CommandError, match=words):
        run("certbot_client", "certbot", "--public-key-file", str(path), "--domain", pattern)
    assert not User.objects.exists()


def test_certbot_client_domain_needs_a_key_file(certbot_user) -> None:
    with pytest.raises(CommandError, match="--domain sets the scope of the key given with --public-key-file"):
        run("certbot_client", "certbot", "--domain", "a.example.com")


def test_certbot_client_warns_about_a_pattern_covering_a_public_suffix(tmp_path, ed25519_key) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(ed25519_key.public_key.as_pem)
    _, err = run("certbot_client", "certbot", "--public-key-file", str(path), "--domain", "*.co.uk")
    assert "warning: *.co.uk covers a whole public suffix" in err


def test_a_scope_pattern_covering_a_public_suffix_is_w004(scoped) -> None:
    assert check_key_scopes(databases=["default"]) == []
    KeyScope.objects.create(key=scoped, pattern="*.com")
    [message] = check_key_scopes(databases=["default"])
    assert message.id == "acme_challenge.W004"
    assert message.level == checks.WARNING
    assert "'*.com', which covers a whole public suffix" in message.msg
    assert "manage.py certbot_client certbot" in message.hint


def test_the_scope_check_runs_only_when_databases_are_checked(scoped) -> None:
    KeyScope.objects.create(key=scoped, pattern="*.com")
    assert check_key_scopes(databases=None) == []


def test_the_admin_shows_and_edits_a_keys_scope(client: Client, scoped) -> None:
    admin = make_user("admin", [], (), is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/asymmetric_jwt_auth/publickey/")
    assert "a.example.com, *.a.example.com" in listing.content.decode()
    page = client.get(f"/admin/asymmetric_jwt_auth/publickey/{scoped.pk}/change/")
    assert page.status_code == 200
    assert "domain scope" in page.content.decode().lower()
    entries = list(KeyScope.objects.filter(key=scoped).order_by("id"))
    data = {
        "user": scoped.user_id, "comment": scoped.comment, "key": scoped.key,
        "acme_scope-TOTAL_FORMS": "3", "acme_scope-INITIAL_FORMS": "2",
        "acme_scope-MIN_NUM_FORMS": "0", "acme_scope-MAX_NUM_FORMS": "1000",
        "acme_scope-0-id": entries[0].pk, "acme_scope-0-key": scoped.pk, "acme_scope-0-pattern": "a.example.com",
        "acme_scope-1-id": entries[1].pk, "acme_scope-1-key": scoped.pk, "acme_scope-1-pattern": "*.a.example.com",
        "acme_scope-1-DELETE": "on",
        "acme_scope-2-key": scoped.pk, "acme_scope-2-pattern": "C.Example.com",
    }  # fmt: skip
    response = client.post(f"/admin/asymmetric_jwt_auth/publickey/{scoped.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(KeyScope.objects.filter(key=scoped).values_list("pattern", flat=True)) == [
        "a.example.com",
        "c.example.com",
    ]
    data["acme_scope-2-pattern"] = "not a name"
    data["acme_scope-TOTAL_FORMS"] = "3"
    response = client.post(f"/admin/asymmetric_jwt_auth/publickey/{scoped.pk}/change/", data)
    assert response.status_code == 200
    assert "is not a name, an IP address or" in response.content.decode()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [(" B.Example.com. ", "b.example.com"), ("*.Example.COM.", "*.example.com"), ("[2001:DB8::1]", "2001:db8::1")],
)
def test_the_admin_certbot_client_and_the_allow_list_read_a_pattern_alike(
    tmp_path, ed25519_key, settings, typed, stored
) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(ed25519_key.public_key.as_pem)
    run("certbot_client", "certbot", "--public-key-file", str(path), "--domain", typed)
    assert list(KeyScope.objects.values_list("pattern", flat=True)) == [stored]
    entry = KeyScope(key=KeyScope.objects.get().key, pattern=typed)
    entry.clean()
    assert entry.pattern == stored
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = [typed]
    assert conf.allowed_domains == [stored]
