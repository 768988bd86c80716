"""POST /.well-known/certificates/, the deploy hook's report (issues 15 and 19): the report is the certificate chain,
which the site verifies to its trust anchors and reads the facts from; a report never changes another user's record,
and the answer does not tell whether another user reported the certificate. The certificates come from a test CA of
these tests' own (tests/pki.py), whose root is in ACME_CHALLENGE_TRUST_ROOTS.

Issue 19's attacks, each refused here: bob's report of alice's certificate (her fingerprint was all it took), a
certificate signed by another key under the same issuer name, carol's made-up ``not_before=2098``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asymmetric_jwt_auth.keys import Ed25519PrivateKey
from asymmetric_jwt_auth.models import PublicKey
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import Permission
from django.core import checks

from acme_challenge.models import AuditRecord, CertificateReport, Identifier, KeyScope, Verdict
from acme_challenge.monitoring import record_certificate, status_of

from .conftest import FORM, auth, bound_auth, form, make_user
from .pki import TestCA, fingerprint, pem

REPORTS = "/.well-known/certificates/"
JSON = "application/json"
PERMISSIONS = ("add_challenge", "delete_challenge", "add_certificatereport")
UTC = timezone.utc
ALICE_NAMES = ["a.example.com", "www.a.example.com"]


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(autouse=True)
def trusted(ca: TestCA, tmp_path: Path, settings) -> Path:
    root = ca.write_root(tmp_path / "test-root.pem")
    settings.ACME_CHALLENGE_TRUST_ROOTS = [str(root)]
    return root


def user(name: str, key: Ed25519PrivateKey, scope: list[str]):
    made = make_user(name, [key], PERMISSIONS)
    for pattern in scope:
        KeyScope.objects.create(key=PublicKey.objects.get(user=made), pattern=pattern)
    return made


@pytest.fixture(scope="module")
def keys() -> dict[str, Ed25519PrivateKey]:
    return {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture
def people(db, keys):
    """alice scoped to her two names, bob to his, carol to one of alice's; dave may report any name."""
    return {
        "alice": user("alice", keys["alice"], ALICE_NAMES),
        "bob": user("bob", keys["bob"], ["b.example.com"]),
        "carol": user("carol", keys["carol"], ["www.a.example.com"]),
        "dave": user("dave", keys["dave"], []),
    }


def post_json(client, key, username: str, data: dict):
    body = json.dumps(data).encode()
    return client.post(
        REPORTS, body, content_type=JSON, headers=bound_auth(key, "POST", REPORTS, body, username=username)
    )


def report(client, keys, username: str, chain: str, lineage: str = "a.example.com"):
    return post_json(client, keys[username], username, {"chain": chain, "lineage": lineage})


def rows() -> list[dict]:
    return list(CertificateReport.objects.order_by("id").values())


# What a report records --------------------------------------------------------------------------------------------


def test_a_chain_that_verifies_is_recorded_with_the_facts_read_from_the_certificate(client, ca, keys, people) -> None:
    leaf = ca.issue(ALICE_NAMES)
    response = report(client, keys, "alice", ca.fullchain(leaf))
    assert response.status_code == 201, response.content
    assert response.content.decode().startswith(f"recorded certificate {leaf.serial_number:x} for a.example.com, ")
    row = CertificateReport.objects.get()
    assert (row.serial, row.fingerprint, row.lineage, row.username, row.verified) == (
        f"{leaf.serial_number:x}", fingerprint(leaf), "a.example.com", "alice", True,
    )  # fmt: skip
    assert (row.not_before, row.not_after) == (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    assert row.issuer == "CN=Test Intermediate R1,O=Tests"
    assert row.anchor == "CN=Test Root X1,O=Tests"
    assert x509.load_pem_x509_certificate(row.leaf.encode()) == leaf
    assert row.key_fingerprint == keys["alice"].public_key.fingerprint
    assert sorted(Identifier.objects.values_list("name", "certificate")) == [(n, row.pk) for n in ALICE_NAMES]
    record = AuditRecord.objects.get()
    assert (record.action, record.status, record.domain, record.username) == ("report", 201, "a.example.com", "alice")
    # The same certificate again, by the same user: refreshed, not duplicated.
    assert report(client, keys, "alice", ca.fullchain(leaf)).status_code == 200
    assert CertificateReport.objects.count() == 1


def test_an_ip_address_name_is_recorded_in_canonical_form(client, ca, keys, people) -> None:
    leaf = ca.issue(["d.example.com", "2001:db8:0::1"])
    assert report(client, keys, "dave", ca.fullchain(leaf)).status_code == 201
    assert sorted(Identifier.objects.values_list("name", flat=True)) == ["2001:db8::1", "d.example.com"]


def test_an_expired_certificate_that_chains_is_recorded_as_expired(client, ca, keys, people) -> None:
    leaf = ca.issue(ALICE_NAMES, not_before=datetime.now(UTC) - timedelta(days=100), days=90)
    response = report(client, keys, "alice", ca.fullchain(leaf))
    assert response.status_code == 201, response.content
    assert "(expired " in response.content.decode()
    assert status_of("a.example.com").verdict == Verdict.EXPIRED


def test_a_certificate_valid_within_the_clock_skew_tolerance_is_recorded(client, ca, keys, people) -> None:
    leaf = ca.issue(ALICE_NAMES, not_before=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10))
    assert report(client, keys, "alice", ca.fullchain(leaf)).status_code == 201


def test_the_status_of_a_name_follows_the_newest_verified_certificate(client, ca, keys, people) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    older, newer = ca.issue(ALICE_NAMES, now - timedelta(days=60)), ca.issue(ALICE_NAMES, now - timedelta(days=1))
    assert report(client, keys, "alice", ca.fullchain(newer)).status_code == 201
    assert report(client, keys, "alice", ca.fullchain(older)).status_code == 201  # reported late
    assert status_of("a.example.com").certificate.fingerprint == fingerprint(newer)


def test_a_claim_recorded_before_verification_existed_gives_way_to_any_verified_certificate(
    client, ca, keys, people
) -> None:
    # What carol's made-up report of 2026-12-05 left behind: a row of claims, not_before 2098.
    record_certificate(
        fingerprint="f" * 64, serial="01", names=["www.a.example.com"], lineage="", issuer="made up",
        not_before=datetime(2098, 1, 1, tzinfo=UTC), not_after=datetime(2099, 1, 1, tzinfo=UTC),
        user=people["carol"], username="carol", key_fingerprint="", remote_address="",
    )  # fmt: skip
    assert status_of("www.a.example.com").certificate.not_before.year == 2098
    leaf = ca.issue(ALICE_NAMES)
    assert report(client, keys, "alice", ca.fullchain(leaf)).status_code == 201
    assert status_of("www.a.example.com").certificate.fingerprint == fingerprint(leaf)


# The attacks of issue 19 ------------------------------------------------------------------------------------------


def test_bob_cannot_report_alices_certificate_for_names_outside_his_scope(client, ca, keys, people) -> None:
    leaf = ca.issue(ALICE_NAMES, not_before=datetime.now(UTC) - timedelta(days=95), days=90)  # alice's, expired
    assert report(client, keys, "alice", ca.fullchain(leaf)).status_code == 201
    before = rows()
    # Before issue 19, bob posted her fingerprint with not_after=2099 and his name: "200 refreshed", and her names
    # read "ok". Now the report is the certificate, and its names are alice's, not his.
    response = report(client, keys, "bob", ca.fullchain(leaf))
    assert response.status_code == 403
    assert "name: 'a.example.com' is outside the scope of key" in response.content.decode()
    assert rows() == before
    assert status_of("a.example.com").verdict == Verdict.EXPIRED
    record = AuditRecord.objects.filter(username="bob").get()
    assert (record.status, record.domain) == (403, "a.example.com")


def test_the_old_form_of_claims_is_refused_and_says_to_upgrade_the_deploy_hook(client, ca, keys, people) -> None:
    leaf = ca.issue(ALICE_NAMES)
    claims = form(
        serial="01", name=["b.example.com"], not_before="0001-01-01T00:00:00+01:00", not_after="2099-01-01T00:00:00Z",
        issuer="CN=x", fingerprint=fingerprint(leaf),
    )  # fmt: skip
    headers = bound_auth(keys["bob"], "POST", REPORTS, claims, username="bob")
    response = client.post(REPORTS, claims, content_type=FORM, headers=headers)
    assert response.status_code == 400
    assert "upgrade deploy-hook" in response.content.decode()
    # The same claims as JSON: the same answer.
    response = post_json(client, keys["bob"], "bob", {"serial": "01", "fingerprint": fingerprint(leaf)})
    assert response.status_code == 400
    assert "upgrade deploy-hook" in response.content.decode()
    assert not CertificateReport.objects.exists()
    assert list(AuditRecord.objects.values_list("status", "count")) == [(400, 1), (400, 1)]


def test_a_certificate_signed_by_another_key_under_the_same_issuer_name_is_refused(client, ca, keys, people) -> None:
    forger = TestCA()  # the same names as the trusted CA's root and intermediate, keys of its own
    assert forger.intermediate.subject == ca.intermediate.subject
    assert forger.root.subject == ca.root.subject
    fake = forger.issue(["b.example.com"], days=365 * 70)
    for chain in (forger.fullchain(fake), pem(fake) + pem(ca.intermediate)):
        response = report(client, keys, "bob", chain)
        assert response.status_code == 403
        assert "does not chain to a root this site trusts" in response.content.decode()
        assert "ACME_CHALLENGE_TRUST_ROOTS" in response.content.decode()
    assert not CertificateReport.objects.exists()
    assert not Identifier.objects.exists()


def test_a_self_signed_certificate_is_refused(client, keys, people) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = datetime.now(UTC)
    self_signed = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("b.example.com")]), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    assert report(client, keys, "bob", pem(self_signed)).status_code == 403
    assert not CertificateReport.objects.exists()


def test_carols_certificate_dated_2098_is_refused_and_a_real_one_leaves_alices_record_alone(
    client, ca, keys, people
) -> None:
    alices = ca.issue(ALICE_NAMES, not_before=datetime.now(UTC) - timedelta(days=30))
    assert report(client, keys, "alice", ca.fullchain(alices)).status_code == 201
    before = rows()
    # The made-up report cannot be made any more: the dates are the certificate's, and a CA that trusts would sign
    # notBefore=2098 only ahead of time; such a certificate is not valid yet.
    future = ca.issue(["www.a.example.com"], not_before=datetime(2098, 1, 1, tzinfo=UTC), days=365)
    response = report(client, keys, "carol", ca.fullchain(future))
    assert response.status_code == 400
    assert "not valid until 2098-01-01T00:00:00Z" in response.content.decode()
    assert rows() == before
    # A real certificate for carol's name is a row of carol's: alice's record does not change.
    carols = ca.issue(["www.a.example.com"])
    assert report(client, keys, "carol", ca.fullchain(carols)).status_code == 201
    assert rows()[0] == before[0]
    assert CertificateReport.objects.get(user=people["carol"]).fingerprint == fingerprint(carols)
    # The name outside carol's scope keeps alice's certificate; the shared name follows the newest verified one.
    assert status_of("a.example.com").certificate.fingerprint == fingerprint(alices)
    assert status_of("www.a.example.com").certificate.fingerprint == fingerprint(carols)


def test_reporting_another_users_certificate_changes_nothing_of_theirs(client, ca, keys, people) -> None:
    leaf = ca.issue(["www.a.example.com"])
    assert report(client, keys, "alice", ca.fullchain(leaf), lineage="alices").status_code == 201
    before = rows()
    assert report(client, keys, "carol", ca.fullchain(leaf), lineage="carols").status_code == 201
    assert rows()[0] == before[0]
    assert CertificateReport.objects.filter(fingerprint=fingerprint(leaf)).count() == 2


def test_the_answer_is_the_same_whether_or_not_another_user_reported_the_certificate(client, ca, keys, people) -> None:
    leaf = ca.issue(["www.a.example.com"])
    unknown = report(client, keys, "carol", ca.fullchain(leaf))
    known = report(client, keys, "alice", ca.fullchain(leaf))  # carol's report is now on file
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert unknown.status_code == 201


def test_a_legacy_token_never_reports_a_certificate(client, ca, keys, people, settings, rsa_key) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = True
    make_user("certbot", [rsa_key], PERMISSIONS)
    body = json.dumps({"chain": ca.fullchain(ca.issue(ALICE_NAMES))}).encode()
    response = client.post(REPORTS, body, content_type=JSON, headers=auth(rsa_key))
    assert response.status_code == 401
    assert "this URL takes only request-bound tokens" in response.content.decode()
    assert not CertificateReport.objects.exists()


# Refusals that name the fix ---------------------------------------------------------------------------------------


def test_a_report_needs_a_valid_bound_jwt(client, ca, keys, people) -> None:
    body = json.dumps({"chain": ca.fullchain(ca.issue(ALICE_NAMES))}).encode()
    assert client.post(REPORTS, body, content_type=JSON).status_code == 401
    replayed = bound_auth(keys["alice"], "POST", REPORTS, b"{}", username="alice")
    assert client.post(REPORTS, body, content_type=JSON, headers=replayed).status_code == 401
    assert not CertificateReport.objects.exists()
    assert list(AuditRecord.objects.order_by("id").values_list("action", "status", "username")) == [
        ("report", 401, ""),
        ("report", 401, "alice"),
    ]


def test_a_user_without_the_report_permission_is_refused_and_told_the_fix(client, ca, keys, people) -> None:
    people["alice"].user_permissions.remove(Permission.objects.get(codename="add_certificatereport"))
    response = report(client, keys, "alice", ca.fullchain(ca.issue(ALICE_NAMES)))
    assert response.status_code == 403
    assert "lacks the permission acme_challenge.add_certificatereport" in response.content.decode()
    assert "manage.py certbot_client alice" in response.content.decode()


def test_a_name_outside_the_allowed_domains_is_refused(client, ca, keys, people, settings) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["a.example.com"]
    response = report(client, keys, "dave", ca.fullchain(ca.issue(ALICE_NAMES)))
    assert response.status_code == 403
    assert "name: 'www.a.example.com' is not in ACME_CHALLENGE_ALLOWED_DOMAINS" in response.content.decode()


def test_a_chain_with_a_private_key_is_refused_and_the_key_is_never_recorded(client, ca, keys, people) -> None:
    secret = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = ca.fullchain(ca.issue(ALICE_NAMES)) + secret.decode()
    response = report(client, keys, "alice", chain)
    assert response.status_code == 400
    assert "never privkey.pem" in response.content.decode()
    body_line = secret.decode().splitlines()[1]
    assert all(body_line not in str(value) for row in AuditRecord.objects.values() for value in row.values())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "chain: required"),
        ({"chain": 5}, "chain: must be a string of PEM text"),
        ({"chain": "not PEM"}, "chain: is not PEM certificates"),
        ({"chain": "CHAIN", "lineage": ["x"]}, "lineage: must be a string"),
        ({"chain": "WILDCARD"}, "which the site does not record: wildcard"),
        ({"chain": "EMAIL"}, "the certificate names a RFC822Name"),
        ({"chain": "NINE"}, "chain: holds 9 certificates; a chain has at most 8"),
        ({"chain": "INTERMEDIATE-FIRST"}, "chain: the first certificate has no subjectAltName"),
    ],
    ids=["no-chain", "chain-not-string", "not-pem", "lineage-list", "wildcard", "email", "too-long", "order"],
)
def test_a_malformed_report_is_refused_naming_the_field(client, ca, keys, people, data, message) -> None:
    leaf = ca.issue(["d.example.com"])
    chains = {
        "CHAIN": ca.fullchain(leaf),
        "WILDCARD": ca.fullchain(ca.issue(["*.d.example.com"])),
        "EMAIL": ca.fullchain(ca.issue(["d.example.com"], extra_san=[x509.RFC822Name("a@d.example.com")])),
        "NINE": ca.fullchain(leaf) + pem(ca.intermediate) * 7,
        "INTERMEDIATE-FIRST": pem(ca.intermediate) + pem(leaf),
    }
    if isinstance(data.get("chain"), str) and data["chain"] in chains:
        data = {**data, "chain": chains[data["chain"]]}
    response = post_json(client, keys["dave"], "dave", data)
    assert response.status_code == 400, response.content
    assert message in response.content.decode()
    assert not CertificateReport.objects.exists()


def test_a_body_that_is_not_json_or_too_large_is_refused(client, keys, people) -> None:
    body = b"chain=x"
    headers = bound_auth(keys["dave"], "POST", REPORTS, body, username="dave")
    response = client.post(REPORTS, body, content_type="text/plain", headers=headers)
    assert response.status_code == 400
    assert "send the report as JSON" in response.content.decode()
    huge = b"x" * (64 * 1024 + 1)
    headers = bound_auth(keys["dave"], "POST", REPORTS, huge, username="dave")
    response = client.post(REPORTS, huge, content_type=JSON, headers=headers)
    assert response.status_code == 400
    assert "larger than 65536 bytes" in response.content.decode()


def test_an_unreadable_trust_root_refuses_reports_and_check_e012_names_it(client, ca, keys, people, settings) -> None:
    settings.ACME_CHALLENGE_TRUST_ROOTS = ["/nonexistent/root.pem"]
    response = report(client, keys, "alice", ca.fullchain(ca.issue(ALICE_NAMES)))
    assert response.status_code == 503
    assert "ACME_CHALLENGE_TRUST_ROOTS" in response.content.decode()
    assert "/nonexistent/root.pem" in AuditRecord.objects.get().reason
    e012 = [message for message in checks.run_checks() if message.id == "acme_challenge.E012"]
    assert len(e012) == 1
    assert "/nonexistent/root.pem" in e012[0].msg


def test_get_on_the_report_url_is_405(client, db) -> None:
    response = client.get(REPORTS)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_a_certificate_valid_beyond_the_dates_the_site_records_is_refused(client, ca, keys, people) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    leaf = ca.issue(["d.example.com"], not_before=start, days=(datetime(9999, 12, 31, tzinfo=UTC) - start).days)
    response = report(client, keys, "dave", ca.fullchain(leaf))
    assert response.status_code == 400
    assert "the site records certificates valid within 1970-01-01T00:00:00Z to 9999-01-01T00:00:00Z" in (
        response.content.decode()
    )
    assert AuditRecord.objects.get().status == 400
