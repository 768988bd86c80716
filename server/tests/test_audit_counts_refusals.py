"""Every signed call is audited and none answers 500 for what a client sent, and the refusals of requests
that never proved a key are counted, not stored one row each, so nobody can grow the audit table.

Before: ``time`` or ``nonce`` of 10**400 answered 500 and left no audit row (the transaction rolled back), a ``time``
of NaN passed the clock check, and 3,000 requests without an Authorization header added 3,000 rows."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone

import jwt
import pytest
from django.db.models import Sum
from django.test import Client

from acme_challenge import api, audit, views
from acme_challenge.audit import MAX_REASONS_PER_MINUTE
from acme_challenge.models import AuditRecord, Challenge, UsedNonce

from .conftest import API, FORM, TOKEN, VALIDATION, body_hash, bound_auth, form, push, raw_jwt

pytestmark = pytest.mark.django_db

BODY = form(challenge=TOKEN, response=VALIDATION, domain="example.com")


def signed_raw(key, payload: bytes) -> str:
    """A JWT over exactly ``payload``: JSON that Python's json module reads but would never write (1e400, big
    integers, NaN), signed with ``key`` so that the signature verifies."""
    algorithm = key.public_key.allowed_algorithms[0]
    return jwt.api_jws.encode(payload, key.as_pem, algorithm=algorithm, headers={"kid": key.public_key.fingerprint})


def payload(time_value: str, nonce_value: str, **extra: str) -> bytes:
    binding = f'"htm": "POST", "htu": "https://testserver{API}", "bsh": "{body_hash(BODY)}"'
    more = "".join(f', "{name}": {value}' for name, value in extra.items())
    return f'{{"username": "certbot", "time": {time_value}, "nonce": {nonce_value}, {binding}{more}}}'.encode()


NOW = str(int(time.time()))
REGISTERED = "the JWT's registered claims (exp, nbf, iat, aud, iss) are refused: "
NONCE = json.dumps(secrets.token_urlsafe(8))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (payload("1e400", NONCE), "the JWT's time claim is inf, not a finite number"),
        (payload("1" + "0" * 400, NONCE), "the JWT's time claim is a number of 401 digits, outside 1e+09 to 1e+10"),
        (payload("NaN", NONCE), "the JWT's time claim is nan, not a finite number"),
        (payload("Infinity", NONCE), "the JWT's time claim is inf, not a finite number"),
        (payload("-Infinity", NONCE), "the JWT's time claim is -inf, not a finite number"),
        (payload("1", NONCE), "the JWT's time claim is 1, outside 1e+09 to 1e+10"),
        (payload(NOW, "1e400"), "the JWT's nonce claim is inf, not a finite number"),
        (payload(NOW, "1" + "0" * 400), "the JWT's nonce claim is a number larger than"),
        (payload(NOW, "NaN"), "the JWT's nonce claim is nan, not a finite number"),
        (payload(NOW, NONCE, exp="Infinity"), REGISTERED),
        (payload(NOW, NONCE, iat="1e400"), REGISTERED),
    ],
    ids=[
        "time-1e400", "time-10**400", "time-nan", "time-infinity", "time-minus-infinity", "time-1",
        "nonce-1e400", "nonce-10**400", "nonce-nan", "exp-infinity", "iat-1e400",
    ],
)  # fmt: skip
def test_a_signed_token_with_an_absurd_number_is_401_with_one_audit_row_naming_it(
    client: Client, certbot_user, ed25519_key, claims, reason
) -> None:
    headers = {"Authorization": "JWT " + signed_raw(ed25519_key, claims)}
    response = client.post(API, BODY, content_type=FORM, headers=headers)
    assert response.status_code == 401
    [record] = AuditRecord.objects.all()
    assert (record.status, record.username, record.count) == (401, "certbot", 1)
    assert reason in record.reason
    assert not Challenge.objects.exists()
    assert not UsedNonce.objects.exists()


def test_an_unexpected_failure_is_500_rolls_the_call_back_and_is_still_audited(
    client: Client, certbot_user, ed25519_key, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the database said something unexpected")

    monkeypatch.setattr(views, "write_challenge", broken)
    response = push(client, ed25519_key)
    assert response.status_code == 500
    assert response.content.decode() == api.INTERNAL_ERROR + "\n"
    assert "unexpected" not in response.content.decode().split(":", 1)[1].replace("could not", "")
    [record] = AuditRecord.objects.all()
    assert (record.status, record.username, record.reason) == (500, "certbot", "unexpected error: RuntimeError")
    # Rolled back: the nonce is not spent, so nothing of the failed call stays but its record.
    assert not UsedNonce.objects.exists()


def test_ten_thousand_requests_that_prove_no_key_add_a_few_rows_and_the_metrics_count_them_all(
    settings, certbot_user, ed25519_key, monkeypatch
) -> None:
    # One minute, as a flood of this size takes (the per-minute rows are pinned by the next test).
    monkeypatch.setattr(audit.timezone, "now", lambda: datetime(2026, 12, 5, 8, 0, 30, tzinfo=timezone.utc))
    client = Client()
    bad_signature = bound_auth(ed25519_key, "POST", API, BODY)["Authorization"][:-6] + "AAAAAA"
    headers_of = [
        lambda n: {},  # no header
        lambda n: {"Authorization": f"Bearer {n}"},  # another scheme
        lambda n: {"Authorization": "JWT " + raw_jwt({"alg": "RS512"}, b"[1, 2]")},  # malformed
        lambda n: {"Authorization": "JWT " + raw_jwt({"alg": "EdDSA"}, {"username": f"user{n}", "time": 1})},
        lambda n: {"Authorization": bad_signature},
    ]
    total = 10_000
    started = time.monotonic()
    for n in range(total):
        address = f"2001:db8::{n:x}"  # a new source address each time, as IPv6 gives anyone
        response = client.post(API, BODY, content_type=FORM, headers=headers_of[n % 5](n), REMOTE_ADDR=address)
        assert response.status_code == 401
    elapsed = time.monotonic() - started
    rows = AuditRecord.objects.count()
    assert rows <= MAX_REASONS_PER_MINUTE + 5, rows  # the reasons kept, and one row per kind beyond them
    assert AuditRecord.objects.aggregate(total=Sum("count"))["total"] == total
    assert AuditRecord.objects.filter(remote_address="").count() == rows
    print(f"{total} refused requests in {elapsed:.1f} s added {rows} audit rows")

    from acme_challenge.metrics import render

    assert f'acme_challenge_api_calls{{action="push",status="401"}} {total}' in render()


def test_each_minute_has_rows_of_its_own_and_signed_refusals_keep_a_row_each(
    client: Client, certbot_user, ed25519_key, monkeypatch
) -> None:
    minute = [datetime(2026, 12, 5, 8, 0, 1, tzinfo=timezone.utc)]
    monkeypatch.setattr(audit.timezone, "now", lambda: minute[0])
    for _ in range(3):
        push(client, headers={})
    minute[0] = datetime(2026, 12, 5, 8, 1, 59, tzinfo=timezone.utc)
    push(client, headers={})
    assert list(AuditRecord.objects.order_by("time").values_list("time", "count")) == [
        (datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc), 3),
        (datetime(2026, 12, 5, 8, 1, tzinfo=timezone.utc), 1),
    ]
    AuditRecord.objects.all().delete()
    stale = int(time.time()) - 3600  # a key proved, then refused: one row each, with user and key
    for _ in range(3):
        push(client, headers=bound_auth(ed25519_key, "POST", API, BODY, timestamp=stale))
    assert list(AuditRecord.objects.values_list("username", "count", "bucket")) == [("certbot", 1, None)] * 3


def test_past_the_cap_further_reasons_share_one_row_per_kind(client: Client, db, monkeypatch) -> None:
    monkeypatch.setattr(audit.timezone, "now", lambda: datetime(2026, 12, 5, 8, 0, 1, tzinfo=timezone.utc))
    for n in range(MAX_REASONS_PER_MINUTE + 30):
        token = raw_jwt({"alg": "EdDSA"}, {"username": f"user{n}", "time": 1})
        assert push(client, headers={"Authorization": f"JWT {token}"}).status_code == 401
    assert AuditRecord.objects.count() == MAX_REASONS_PER_MINUTE + 1
    overflow = AuditRecord.objects.get(count=30)
    assert overflow.reason.startswith("unknown-user: refused; more distinct reasons this minute than the site keeps")


def test_the_purge_deletes_counted_rows_too(db, settings) -> None:
    settings.ACME_CHALLENGE_AUDIT_RETENTION = 1
    audit.count_refusal(
        "push", 401, "no-header", "JWT refused: no Authorization header", now=datetime(2020, 1, 1, tzinfo=timezone.utc)
    )
    audit.count_refusal("push", 401, "no-header", "JWT refused: no Authorization header")
    assert audit.purge() == 1
    assert AuditRecord.objects.get().count == 1


def test_without_upsert_refusals_are_still_counted(db, monkeypatch) -> None:
    monkeypatch.setattr(audit.connections["default"], "vendor", "other")
    for _ in range(3):
        audit.count_refusal("push", 401, "no-header", "JWT refused: no Authorization header")
    assert list(AuditRecord.objects.values_list("count", flat=True)) == [3]


def test_the_admin_shows_counted_rows_with_their_count_read_only(admin_client, db) -> None:
    for _ in range(7):
        audit.count_refusal("push", 401, "no-header", "JWT refused: no Authorization header")
    record = AuditRecord.objects.get()
    listing = admin_client.get("/admin/acme_challenge/auditrecord/").content.decode()
    assert '<td class="field-count">7</td>' in listing
    page = admin_client.get(f"/admin/acme_challenge/auditrecord/{record.pk}/change/").content.decode()
    assert 'name="count"' not in page
    assert (
        admin_client.post(f"/admin/acme_challenge/auditrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    )
