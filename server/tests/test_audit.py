"""The audit trail: every API call, accepted or refused, is a row with time, user, key fingerprint, action, token,
domain, remote address, outcome and reason; read-only in the admin, purged after a configurable age, and never
holding a JWT."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from acme_challenge import audit
from acme_challenge.models import AuditRecord, Challenge

from .conftest import API, TOKEN, VALIDATION, b64, bound_auth, delete, form, make_user, push, raw_jwt

pytestmark = pytest.mark.django_db


def only_record() -> AuditRecord:
    [record] = AuditRecord.objects.all()
    return record


def test_an_accepted_push_is_recorded_with_who_what_and_where(client: Client, certbot_user, ed25519_key) -> None:
    assert push(client, ed25519_key, domain="www.example.com", meta={"REMOTE_ADDR": "192.0.2.9"}).status_code == 201
    record = only_record()
    assert (record.user, record.username, record.key_fingerprint) == (
        certbot_user,
        "certbot",
        ed25519_key.public_key.fingerprint,
    )
    assert (record.action, record.token, record.domain, record.remote_address) == (
        "push",
        TOKEN,
        "www.example.com",
        "192.0.2.9",
    )
    assert (record.status, record.reason) == (201, f"created {TOKEN}")
    assert timezone.now() - record.time < timedelta(minutes=1)


def test_a_delete_is_recorded_with_the_deleted_challenges_domain(client: Client, certbot_user, rsa_key) -> None:
    push(client, rsa_key, domain="a.example.com")
    delete(client, rsa_key)
    record = AuditRecord.objects.first()
    assert (record.action, record.token, record.domain, record.status) == ("delete", TOKEN, "a.example.com", 204)


def test_a_401_without_credentials_is_counted_in_a_row_of_its_minute_and_reason(client: Client, certbot_user) -> None:
    push(client, headers={}, meta={"REMOTE_ADDR": "198.51.100.4"})
    record = only_record()
    assert (record.user, record.key_fingerprint, record.status, record.count) == (None, "", 401, 1)
    # Not keyed by address: anyone has as many as IPv6 gives them.
    assert (record.action, record.remote_address) == ("push", "")
    assert record.reason == "JWT refused: no Authorization header"
    assert record.time.second == 0
    push(client, headers={}, meta={"REMOTE_ADDR": "198.51.100.5"})
    assert only_record().count == 2


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        (lambda key: {"Authorization": "JWT " + raw_jwt({"alg": "RS512"}, b"[1, 2]")}, "the JWT is malformed"),
        (lambda key: bound_auth(key, "POST", API, b"", username="nobody"), "no user 'nobody'"),
        (lambda key: bound_auth(key, "POST", API, b"", timestamp=int(time.time()) - 3600), "the JWT's time is"),
    ],
    ids=["malformed", "unknown-user", "stale"],
)
def test_a_refused_token_records_the_precise_reason_the_client_is_not_told(
    client: Client, certbot_user, ed25519_key, make_headers, reason
) -> None:
    response = push(client, headers=make_headers(ed25519_key))
    assert response.status_code == 401
    assert reason not in response.content.decode()
    assert reason in only_record().reason


def test_a_stale_token_from_a_registered_key_records_the_user_and_key(client, certbot_user, ed25519_key) -> None:
    push(client, headers=bound_auth(ed25519_key, "POST", API, b"", timestamp=1))
    record = only_record()
    assert (record.username, record.key_fingerprint) == ("certbot", ed25519_key.public_key.fingerprint)


def test_refusals_with_4xx_are_recorded_with_their_message(client: Client, settings, certbot_user, rsa_key) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["example.org"]
    push(client, rsa_key, domain="example.com")
    push(client, rsa_key, domain="bad name")
    client.get(API)
    denied, invalid, method = AuditRecord.objects.order_by("id")
    assert (denied.status, denied.domain) == (403, "example.com")
    assert denied.reason.startswith("domain: 'example.com' is not in ACME_CHALLENGE_ALLOWED_DOMAINS")
    assert (invalid.status, invalid.domain, invalid.token) == (400, "", TOKEN)
    assert invalid.reason.startswith("domain: 'bad name' is invalid")
    assert (method.status, method.action) == (405, "other")


def test_a_409_names_the_owner_and_the_pusher_in_the_record_only(client: Client, certbot_user, ed25519_key) -> None:
    other = make_user("other", [], ())
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, owner=other)
    response = push(client, ed25519_key)
    assert response.status_code == 409
    assert "'other'" not in response.content.decode()
    assert only_record().reason == f"challenge {TOKEN} belongs to user 'other', not to 'certbot'"


def test_no_record_ever_holds_a_jwt(client: Client, certbot_user, ed25519_key) -> None:
    sent = []

    def remember(headers):
        sent.append(headers["Authorization"].split(" ", 1)[1])
        return headers

    body = form(challenge=TOKEN, response=VALIDATION, domain="example.com")
    push(client, headers=remember(bound_auth(ed25519_key, "POST", API, body)))
    push(client, headers=remember(bound_auth(ed25519_key, "POST", API, body)))  # a replay-shaped refusal
    push(client, headers=remember(bound_auth(ed25519_key, "POST", API, b"other body")))
    token_in_a_field = remember(bound_auth(ed25519_key, "POST", API, b""))["Authorization"].split(" ", 1)[1]
    push(client, ed25519_key, token=token_in_a_field, domain=token_in_a_field)
    push(client, headers={"Authorization": "JWT " + sent[0]})
    push(client, headers={"Authorization": "Bearer " + sent[1]})
    assert AuditRecord.objects.count() == 6
    text = "\n".join(str(value) for row in AuditRecord.objects.values() for value in row.values())
    for jwt in sent:
        for part in jwt.split("."):
            assert part not in text
    assert b64(b'{"') not in text  # the start of any JWT header or payload


def test_the_admin_shows_the_trail_read_only(client: Client, certbot_user, ed25519_key) -> None:
    push(client, ed25519_key)
    admin = make_user("admin", [], (), is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/acme_challenge/auditrecord/")
    assert listing.status_code == 200
    assert TOKEN in listing.content.decode()
    record = only_record()
    assert client.get("/admin/acme_challenge/auditrecord/add/").status_code == 403
    page = client.get(f"/admin/acme_challenge/auditrecord/{record.pk}/change/")
    assert page.status_code == 200
    assert 'name="reason"' not in page.content.decode()  # shown, not editable
    assert client.post(f"/admin/acme_challenge/auditrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditRecord.objects.filter(pk=record.pk).exists()


def _aged(days: int) -> AuditRecord:
    return AuditRecord.objects.create(action="push", status=201, time=timezone.now() - timedelta(days=days))


def test_purge_deletes_records_older_than_the_retention(settings) -> None:
    settings.ACME_CHALLENGE_AUDIT_RETENTION = 30
    old, kept = _aged(31), _aged(29)
    out = io.StringIO()
    call_command("acme_challenge_purge", stdout=out)
    assert "1 audit record(s) (older than 30 days)" in out.getvalue()
    assert list(AuditRecord.objects.all()) == [kept]
    assert not AuditRecord.objects.filter(pk=old.pk).exists()


def test_the_api_purges_old_records_at_most_once_an_hour(client, settings, certbot_user, rsa_key, monkeypatch) -> None:
    monkeypatch.setattr(audit, "_last_purge", float("-inf"))
    settings.ACME_CHALLENGE_AUDIT_RETENTION = 1
    old = _aged(2)
    push(client, rsa_key)
    assert not AuditRecord.objects.filter(pk=old.pk).exists()
    old = _aged(2)
    push(client, rsa_key)
    assert AuditRecord.objects.filter(pk=old.pk).exists()


def test_list_keys_shows_the_last_use_from_the_trail(client: Client, certbot_user, ed25519_key) -> None:
    push(client, ed25519_key, meta={"REMOTE_ADDR": "203.0.113.5"})
    out = io.StringIO()
    call_command("certbot_client", "certbot", "--list-keys", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith(ed25519_key.public_key.fingerprint))
    record = only_record()
    assert line.endswith(
        f"last used: {record.time.isoformat(timespec='seconds')} (push {TOKEN}: 201, from 203.0.113.5)"
    )
