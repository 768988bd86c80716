"""Issue 15: POST /.well-known/certificates/, the deploy hook's report: authenticated as the challenge API, refused for
names outside the allow-list or the key's scope (403, in the audit trail), a permission of its own."""

from __future__ import annotations

import pytest
from asymmetric_jwt_auth.models import PublicKey
from django.contrib.auth.models import Permission

from acme_challenge.models import AuditRecord, KeyScope
from acme_challenge.monitoring import CertificateReport, Identifier

from .conftest import FORM, bound_auth, form, make_user

REPORTS = "/.well-known/certificates/"
FINGERPRINT = "e695038cb9586626131df0e1d2832177db0a54a2681af3916eb68ff6a034cbea"


@pytest.fixture
def reporter(db, ed25519_key):
    return make_user("certbot", [ed25519_key], ("add_challenge", "delete_challenge", "add_certificatereport"))


def facts(**overrides) -> dict:
    fields = {
        "serial": "FA0123456789ABCDEF",
        "name": ["a.example.com", "WWW.a.example.com", "2001:db8::1"],
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": "2026-04-01T00:00:00Z",
        "issuer": "O=Example Test CA, CN=Example Test Issuer R1",
        "fingerprint": FINGERPRINT,
        "lineage": "a.example.com",
    }
    fields.update(overrides)
    return fields


def post(client, key, *, username: str = "certbot", **fields):
    body = form(**facts(**fields))
    return client.post(
        REPORTS, body, content_type=FORM, headers=bound_auth(key, "POST", REPORTS, body, username=username)
    )


def test_a_report_is_recorded_for_every_name_with_who_sent_it(client, reporter, ed25519_key) -> None:
    response = post(client, ed25519_key)
    assert response.status_code == 201, response.content
    assert response.content.decode().startswith("recorded certificate fa0123456789abcdef for a.example.com, ")
    report = CertificateReport.objects.get()
    assert (report.serial, report.fingerprint, report.lineage, report.username) == (
        "fa0123456789abcdef", FINGERPRINT, "a.example.com", "certbot",
    )  # fmt: skip
    assert report.key_fingerprint == ed25519_key.public_key.fingerprint
    assert report.not_after.isoformat() == "2026-04-01T00:00:00+00:00"
    assert sorted(Identifier.objects.values_list("name", flat=True)) == [
        "2001:db8::1", "a.example.com", "www.a.example.com",
    ]  # fmt: skip
    record = AuditRecord.objects.get()
    assert (record.action, record.status, record.domain) == ("report", 201, "a.example.com")
    # The same certificate again: refreshed, not duplicated.
    assert post(client, ed25519_key).status_code == 200
    assert CertificateReport.objects.count() == 1


def test_a_report_needs_a_valid_bound_jwt(client, reporter, ed25519_key) -> None:
    body = form(**facts())
    assert client.post(REPORTS, body, content_type=FORM).status_code == 401
    other_body = form(**facts(serial="01"))
    replayed = bound_auth(ed25519_key, "POST", REPORTS, other_body)
    assert client.post(REPORTS, body, content_type=FORM, headers=replayed).status_code == 401
    assert not CertificateReport.objects.exists()
    assert list(AuditRecord.objects.values_list("action", "status")) == [("report", 401)] * 2


def test_a_user_without_the_report_permission_is_refused_and_told_the_fix(client, reporter, ed25519_key) -> None:
    reporter.user_permissions.remove(Permission.objects.get(codename="add_certificatereport"))
    response = post(client, ed25519_key)
    assert response.status_code == 403
    assert "lacks the permission acme_challenge.add_certificatereport" in response.content.decode()
    assert "manage.py certbot_client certbot" in response.content.decode()


def test_a_name_outside_the_keys_scope_is_refused_and_recorded(client, reporter, ed25519_key) -> None:
    key = PublicKey.objects.get(user=reporter)
    KeyScope.objects.create(key=key, pattern="a.example.com")
    KeyScope.objects.create(key=key, pattern="*.a.example.com")
    response = post(client, ed25519_key)
    assert response.status_code == 403
    assert "name: '2001:db8::1' is outside the scope of key" in response.content.decode()
    assert not CertificateReport.objects.exists()
    record = AuditRecord.objects.get()
    assert (record.action, record.status, record.domain, record.username) == (
        "report", 403, "2001:db8::1", "certbot",
    )  # fmt: skip
    assert "outside the scope" in record.reason
    assert post(client, ed25519_key, name=["a.example.com", "www.a.example.com"]).status_code == 201


def test_a_name_outside_the_allowed_domains_is_refused(client, reporter, ed25519_key, settings) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["*.example.com", "a.example.com"]
    response = post(client, ed25519_key)
    assert response.status_code == 403
    assert "name: '2001:db8::1' is not in ACME_CHALLENGE_ALLOWED_DOMAINS" in response.content.decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"serial": "xyz"}, "serial: must be the serial number in hex"),
        ({"fingerprint": "ab"}, "fingerprint: must be the SHA-256"),
        ({"not_after": "April"}, "not_after: must be an RFC 3339 time"),
        ({"not_before": "2026-01-01T00:00:00"}, "not_before: must be an RFC 3339 time with a zone"),
        ({"not_after": "2025-01-01T00:00:00Z"}, "not_after: must be later than not_before"),
        ({"name": []}, "name: required"),
        ({"name": ["*.example.com"]}, "name: '*.example.com' is not a name the site records: wildcard"),
        ({"name": [f"n{i}.example.com" for i in range(101)]}, "a certificate has at most 100 names"),
        ({"serial": ["01", "02"]}, "serial: was given more than once"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(client, reporter, ed25519_key, fields, message) -> None:
    response = post(client, ed25519_key, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CertificateReport.objects.exists()


def test_a_json_body_or_an_oversized_one_is_refused(client, reporter, ed25519_key) -> None:
    body = b'{"serial": "01"}'
    headers = bound_auth(ed25519_key, "POST", REPORTS, body)
    response = client.post(REPORTS, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "send the report as a form" in response.content.decode()
    huge = b"x" * (64 * 1024 + 1)
    response = client.post(REPORTS, huge, content_type=FORM, headers=bound_auth(ed25519_key, "POST", REPORTS, huge))
    assert response.status_code == 400
    assert "larger than 65536 bytes" in response.content.decode()


def test_get_on_the_report_url_is_405(client, db) -> None:
    response = client.get(REPORTS)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
