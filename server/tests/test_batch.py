"""The batch URLs: many challenges pushed or deleted in one signed call, all or nothing, each item checked as a single
push or delete is, one audit record per item. Effects are counted in the database: challenge rows, audit rows."""

from __future__ import annotations

import json
import time

import pytest
from asymmetric_jwt_auth.models import PublicKey
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from acme_challenge import audit, models, nonce, views
from acme_challenge.audit import NOT_STORED
from acme_challenge.models import AuditRecord, Challenge, KeyScope
from acme_challenge.refusal import HEADER, Code

from .conftest import HOOK_PERMISSIONS, auth, bound_auth, make_user

BATCH = "/.well-known/challenge-batch/"
BATCH_DELETE = "/.well-known/challenge-batch/delete/"
JSON = "application/json"

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(bob_key):
    return make_user("bob", [bob_key], HOOK_PERMISSIONS)


def item(n: int, domain: str | None = None) -> dict[str, str]:
    """The n-th challenge of a batch, for n.example.com unless ``domain`` says otherwise."""
    token = f"token{n:03d}-{'x' * 37}"
    return {"challenge": token, "response": f"{token}.thumbprint_{n}", "domain": domain or f"n{n}.example.com"}


def items(count: int, **domains: str) -> list[dict[str, str]]:
    return [item(n, domains.get(f"n{n}")) for n in range(count)]


def post(client: Client, key, path: str, payload: object = None, *, body: bytes | None = None, username="alice"):
    """POST JSON as the hooks do: the exact bytes sent are the ones the JWT's ``bsh`` covers."""
    if body is None:
        body = json.dumps(payload).encode()
    return client.post(path, body, content_type=JSON, headers=bound_auth(key, "POST", path, body, username=username))


def push_batch(client: Client, key, challenges: list, **kwargs):
    return post(client, key, BATCH, {"challenges": challenges}, **kwargs)


def delete_batch(client: Client, key, tokens: list, **kwargs):
    return post(client, key, BATCH_DELETE, {"tokens": tokens}, **kwargs)


def stored() -> set[str]:
    return set(Challenge.objects.values_list("token", flat=True))


def audited(**filters) -> list[tuple[str, str, int, str]]:
    rows = AuditRecord.objects.filter(**filters).order_by("id")
    return list(rows.values_list("token", "domain", "status", "reason"))


# Stored: all of them, in one call.


def test_a_hundred_challenges_are_stored_by_one_call_with_one_audit_record_each(alice, alice_key) -> None:
    batch = items(100)
    response = push_batch(Client(), alice_key, batch)
    assert response.status_code == 201
    assert response["Content-Type"] == JSON
    assert json.loads(response.content) == {"stored": 100}
    assert HEADER not in response
    assert Challenge.objects.filter(owner=alice).count() == 100
    rows = {c.token: (c.validation, c.domain) for c in Challenge.objects.all()}
    assert rows == {i["challenge"]: (i["response"], i["domain"]) for i in batch}
    assert audited() == [(i["challenge"], i["domain"], 201, f"created {i['challenge']}") for i in batch]
    assert AuditRecord.objects.filter(action="push", username="alice").count() == 100


def test_a_stored_challenge_is_served_for_its_name(alice, alice_key) -> None:
    assert push_batch(Client(), alice_key, items(2)).status_code == 201
    token = item(1)["challenge"]
    served = Client().get(f"/.well-known/acme-challenge/{token}", headers={"Host": "n1.example.com"})
    assert served.status_code == 200
    assert served.content.decode() == item(1)["response"]


def test_pushing_own_tokens_again_replaces_them(alice, alice_key) -> None:
    assert push_batch(Client(), alice_key, items(3)).status_code == 201
    assert push_batch(Client(), alice_key, items(3, n1="www.example.com")).status_code == 201
    assert Challenge.objects.count() == 3
    assert Challenge.objects.get(token=item(1)["challenge"]).domain == "www.example.com"


# Refused: nothing stored, every refused item named, one audit record per item.


def test_a_hundred_and_one_challenges_are_refused_as_too_large_and_none_stored(alice, alice_key) -> None:
    response = push_batch(Client(), alice_key, items(101))
    assert response.status_code == 400
    assert response[HEADER] == Code.BATCH_TOO_LARGE.value
    assert "batches of at most 100" in response.content.decode()
    assert Challenge.objects.count() == 0
    # Refused whole, before its items were read: one record for the call.
    assert audited() == [("", "", 400, response.content.decode().strip())]


def test_one_item_outside_the_keys_scope_refuses_the_batch_and_names_it(alice, alice_key) -> None:
    KeyScope.objects.create(key=PublicKey.objects.get(user=alice), pattern="*.example.com")
    batch = items(5, n3="other.example.org")
    response = push_batch(Client(), alice_key, batch)
    assert response.status_code == 403
    assert response[HEADER] == Code.SCOPE_OUTSIDE_KEY.value
    text = response.content.decode()
    assert text.count("\n") == 1
    assert text.startswith("nothing stored: 1 of 5 challenges refused: other.example.org (token003-")
    assert "outside the scope of key" in text
    assert item(0)["challenge"] not in text
    assert Challenge.objects.count() == 0
    rows = audited()
    assert len(rows) == 5
    assert [row[:3] for row in rows] == [(i["challenge"], i["domain"], 403) for i in batch]
    assert [row[3] == NOT_STORED for row in rows] == [True, True, True, False, True]
    assert rows[3][3].startswith("domain: 'other.example.org' is outside the scope of key")


def test_every_refused_item_is_named_and_the_first_ones_status_answered(settings, alice, alice_key) -> None:
    settings.ACME_CHALLENGE_ALLOWED_DOMAINS = ["*.example.com"]
    batch = items(4, n1="a.example.net", n2="b.example.org")
    batch[3]["response"] = "not-the-token.x"
    response = push_batch(Client(), alice_key, batch)
    assert response.status_code == 403
    assert response[HEADER] == Code.NAME_NOT_ALLOWED.value
    text = response.content.decode()
    assert text.startswith("nothing stored: 3 of 4 challenges refused: a.example.net (token001-")
    assert "b.example.org (token002-" in text
    assert f"n3.example.com ({item(3)['challenge']}): response: must start with the token" in text
    assert "add it (or a '*.' pattern covering it) to that setting" in text
    assert Challenge.objects.count() == 0
    assert [row[2] for row in audited()] == [403] * 4


def test_another_users_token_in_the_batch_is_409_and_nothing_is_stored(alice, alice_key, bob, bob_key) -> None:
    assert push_batch(Client(), bob_key, [item(2, "bob.example.com")], username="bob").status_code == 201
    before = Challenge.objects.values().get()
    response = push_batch(Client(), alice_key, items(4))
    assert response.status_code == 409
    assert response[HEADER] == Code.NOT_OWNER.value
    text = response.content.decode()
    assert text.startswith(f"nothing stored: 1 of 4 challenges refused: n2.example.com ({item(2)['challenge']})")
    assert "bob" not in text
    assert Challenge.objects.values().get() == before
    rows = audited(username="alice")
    assert len(rows) == 4
    assert rows[2][3] == f"challenge {item(2)['challenge']} belongs to user 'bob', not to 'alice'"
    assert [row[3] for row in rows if row is not rows[2]] == [NOT_STORED] * 3


def test_a_token_twice_in_one_batch_is_refused(alice, alice_key) -> None:
    response = push_batch(Client(), alice_key, [item(0), item(1), item(0)])
    assert response.status_code == 400
    assert response[HEADER] == Code.FIELD_INVALID.value
    assert "is also challenges[0]; a batch names each token once" in response.content.decode()
    assert Challenge.objects.count() == 0
    assert len(audited()) == 3


def test_a_user_without_the_permission_stores_and_deletes_nothing(alice_key) -> None:
    make_user("carol", [alice_key], ())
    Challenge.objects.create(token=item(0)["challenge"], validation="x.y", domain="n0.example.com")
    pushed = push_batch(Client(), alice_key, items(2), username="carol")
    assert pushed.status_code == 403
    assert pushed[HEADER] == Code.PERMISSION_MISSING.value
    assert "acme_challenge.add_challenge" in pushed.content.decode()
    deleted = delete_batch(Client(), alice_key, [item(0)["challenge"]], username="carol")
    assert deleted.status_code == 403
    assert "acme_challenge.delete_challenge" in deleted.content.decode()
    assert stored() == {item(0)["challenge"]}


def test_an_unbound_token_is_refused_even_for_a_legacy_client(settings, alice, alice_key) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = ["alice"]
    body = json.dumps({"challenges": items(2)}).encode()
    response = Client().post(BATCH, body, content_type=JSON, headers=auth(alice_key, "alice"))
    assert response.status_code == 401
    assert response[HEADER] == Code.BINDING_MISSING.value
    assert Challenge.objects.count() == 0


def test_a_token_bound_to_another_body_is_refused(alice, alice_key) -> None:
    signed = json.dumps({"challenges": items(2)}).encode()
    sent = json.dumps({"challenges": items(2, n1="evil.example.com")}).encode()
    headers = bound_auth(alice_key, "POST", BATCH, signed, username="alice")
    response = Client().post(BATCH, sent, content_type=JSON, headers=headers)
    assert response.status_code == 401
    assert response[HEADER] == Code.BINDING_MISMATCH.value
    assert Challenge.objects.count() == 0


def test_a_token_bound_to_the_single_push_url_is_refused_on_the_batch_url(alice, alice_key) -> None:
    body = json.dumps({"challenges": items(1)}).encode()
    headers = bound_auth(alice_key, "POST", "/.well-known/challenges/", body, username="alice")
    response = Client().post(BATCH, body, content_type=JSON, headers=headers)
    assert response.status_code == 401
    assert response[HEADER] == Code.BINDING_MISMATCH.value
    assert Challenge.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code", "fix"),
    [
        (b"{not json", Code.BODY_MALFORMED, 'is not valid JSON; send {"challenges": [{"challenge": TOKEN'),
        (b'{"challenges": [[[[[{}]]]]]}', Code.BODY_MALFORMED, "nested deeper than 4 levels; send {"),
        (b"[]", Code.BODY_MALFORMED, 'must be a JSON object; send {"challenges": ['),
        (b'{"challenges": {"challenge": "x"}}', Code.BODY_MALFORMED, 'must be a JSON object; send {"challenges": ['),
        (b'{"challenges": []}', Code.BODY_MALFORMED, "challenges: is empty; a batch holds 1 to 100 items"),
        (b'{"challenges": ["x"]}', Code.FIELD_INVALID, "challenges[0]: must be an object with 'challenge'"),
        (
            b'{"challenges": [{"challenge": 5, "response": "a.b", "domain": "a.example.com"}]}',
            Code.FIELD_INVALID,
            "a.example.com: challenge: must be a string",
        ),
    ],
)
def test_a_malformed_body_is_400_with_a_message_that_names_the_fix(alice, alice_key, body, code, fix) -> None:
    response = post(Client(), alice_key, BATCH, body=body)
    assert response.status_code == 400
    assert response[HEADER] == code.value
    assert fix in response.content.decode()
    assert Challenge.objects.count() == 0


def test_the_audit_records_of_a_refused_item_name_only_what_is_valid(alice, alice_key) -> None:
    jwt_like = "eyJhbGciOiJFZERTQSJ9.eyJ1c2VybmFtZSI6ImFsaWNlIn0.c2ln"
    batch = [item(0), {"challenge": jwt_like, "response": "x.y", "domain": "evil\n.example.com"}]
    response = push_batch(Client(), alice_key, batch)
    assert response.status_code == 400
    assert "challenges[1]: challenge: must be the ACME token" in response.content.decode()
    assert [row[:2] for row in audited()] == [(item(0)["challenge"], "n0.example.com"), ("", "")]
    assert Challenge.objects.count() == 0


def test_a_form_body_is_refused_with_the_json_shape(alice, alice_key) -> None:
    body = b"challenge=x&response=x.y&domain=a.example.com"
    headers = bound_auth(alice_key, "POST", BATCH, body, username="alice")
    response = Client().post(BATCH, body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 400
    assert response[HEADER] == Code.BODY_MALFORMED.value
    assert "send JSON (Content-Type: application/json)" in response.content.decode()


def test_a_body_over_64_kib_is_refused_unread(alice, alice_key) -> None:
    body = json.dumps({"challenges": items(1), "padding": "x" * 65536}).encode()
    response = post(Client(), alice_key, BATCH, body=body)
    assert response.status_code == 400
    assert response[HEADER] == Code.BODY_TOO_LARGE.value
    assert Challenge.objects.count() == 0


def test_get_is_405_on_both_urls(alice) -> None:
    for path in (BATCH, BATCH_DELETE, BATCH.rstrip("/")):
        response = Client().get(path)
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert response[HEADER] == Code.METHOD_NOT_ALLOWED.value


def test_unauthenticated_batches_are_counted_not_stored_per_item(alice) -> None:
    body = json.dumps({"challenges": items(50)}).encode()
    for _ in range(3):
        assert Client().post(BATCH, body, content_type=JSON).status_code == 401
    assert list(AuditRecord.objects.values_list("count", "status", "token")) == [(3, 401, "")]


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_is_a_neutral_500_that_stores_nothing_and_is_still_audited(
    monkeypatch, alice, alice_key
) -> None:
    def fail() -> int:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(views, "maybe_purge_expired", fail)
    response = push_batch(Client(), alice_key, items(3))
    assert response.status_code == 500
    assert "secret" not in response.content.decode()
    assert Challenge.objects.count() == 0
    assert [row[2:] for row in audited()] == [(500, "unexpected error: RuntimeError")] * 3


# Delete.


def test_a_batch_delete_deletes_own_challenges_and_counts_others_as_absent(alice, alice_key, bob, bob_key) -> None:
    assert push_batch(Client(), alice_key, items(3)).status_code == 201
    assert push_batch(Client(), bob_key, [item(3)], username="bob").status_code == 201
    tokens = [item(n)["challenge"] for n in (0, 2, 3)] + ["unknown"]
    response = delete_batch(Client(), alice_key, tokens)
    assert response.status_code == 200
    assert json.loads(response.content) == {"deleted": 2, "absent": 2}
    assert stored() == {item(1)["challenge"], item(3)["challenge"]}
    assert audited(action="delete") == [
        (item(0)["challenge"], "n0.example.com", 200, f"deleted {item(0)['challenge']}"),
        (item(2)["challenge"], "n2.example.com", 200, f"deleted {item(2)['challenge']}"),
        (item(3)["challenge"], "", 200, f"no such challenge: {item(3)['challenge']}"),
        ("unknown", "", 200, "no such challenge: unknown"),
    ]


def test_a_scoped_key_deletes_ownerless_challenges_only_in_its_scope(alice, alice_key) -> None:
    KeyScope.objects.create(key=PublicKey.objects.get(user=alice), pattern="n0.example.com")
    for n in (0, 1):
        Challenge.objects.create(token=item(n)["challenge"], validation="x.y", domain=f"n{n}.example.com")
    response = delete_batch(Client(), alice_key, [item(0)["challenge"], item(1)["challenge"]])
    assert json.loads(response.content) == {"deleted": 1, "absent": 1}
    assert stored() == {item(1)["challenge"]}


def test_a_batch_delete_with_a_bad_or_repeated_token_deletes_nothing(alice, alice_key) -> None:
    assert push_batch(Client(), alice_key, items(2)).status_code == 201
    tokens = [item(0)["challenge"], "not a token", item(0)["challenge"]]
    response = delete_batch(Client(), alice_key, tokens)
    assert response.status_code == 400
    assert response[HEADER] == Code.FIELD_INVALID.value
    text = response.content.decode()
    assert text.startswith("nothing deleted: 2 of 3 tokens refused: tokens[1]: must be an ACME token")
    assert f"{item(0)['challenge']}: is also tokens[0]" in text
    assert len(stored()) == 2
    assert len(audited(action="delete")) == 3


def test_a_batch_delete_of_more_than_a_hundred_tokens_is_too_large(alice, alice_key) -> None:
    response = delete_batch(Client(), alice_key, [f"t{n}" for n in range(101)])
    assert response.status_code == 400
    assert response[HEADER] == Code.BATCH_TOO_LARGE.value


# Statements: what grows with the batch is the rows written, not the statements run.


@pytest.fixture
def _no_periodic_purges(monkeypatch) -> None:
    now = time.monotonic()
    monkeypatch.setattr(models, "_last_expiry_purge", now)
    monkeypatch.setattr(nonce, "_last_prune", now)
    monkeypatch.setattr(audit, "_last_purge", now)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_no_periodic_purges")
def test_a_batch_push_runs_the_same_statements_for_1_10_and_100_challenges(alice, alice_key) -> None:
    counts = {}
    for size in (1, 10, 100):
        Challenge.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            assert push_batch(Client(), alice_key, items(size)).status_code == 201
        counts[size] = len(queries)
        assert Challenge.objects.count() == size
    # BEGIN, the read, the nonce, the key's use, SAVEPOINT, the upserts (one executemany), RELEASE, the audit
    # records (one executemany), COMMIT.
    assert counts == {1: 9, 10: 9, 100: 9}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_no_periodic_purges")
def test_a_batch_delete_runs_the_same_statements_for_1_10_and_100_tokens(alice, alice_key) -> None:
    counts = {}
    for size in (1, 10, 100):
        assert push_batch(Client(), alice_key, items(size)).status_code == 201
        with CaptureQueriesContext(connection) as queries:
            response = delete_batch(Client(), alice_key, [i["challenge"] for i in items(size)])
        assert json.loads(response.content) == {"deleted": size, "absent": 0}
        counts[size] = len(queries)
    # BEGIN, the read, the nonce, the key's use, the rows read, one DELETE, the audit records, COMMIT.
    assert counts == {1: 8, 10: 8, 100: 8}
    assert Challenge.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_no_periodic_purges")
def test_a_refused_batch_reads_the_owners_once(alice, alice_key, bob, bob_key) -> None:
    assert push_batch(Client(), bob_key, [item(n) for n in (3, 7)], username="bob").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert push_batch(Client(), alice_key, items(100)).status_code == 409
    # The same nine, plus one read of which tokens other users hold and whose (for the audit records), and the
    # rollback to the savepoint.
    assert len(queries) == 11
    assert Challenge.objects.count() == 2
    assert AuditRecord.objects.filter(username="alice", status=409).count() == 100


def test_without_upsert_the_same_rules_hold(monkeypatch, alice, alice_key, bob, bob_key) -> None:
    monkeypatch.setattr(models, "UPSERT_VENDORS", ())
    monkeypatch.setattr(nonce, "UPSERT_VENDORS", ())
    assert push_batch(Client(), bob_key, [item(1)], username="bob").status_code == 201
    assert push_batch(Client(), alice_key, items(3)).status_code == 409
    assert stored() == {item(1)["challenge"]}
    assert push_batch(Client(), alice_key, [item(0), item(2)]).status_code == 201
    assert push_batch(Client(), alice_key, [item(0, "www.example.com")]).status_code == 201
    assert Challenge.objects.get(token=item(0)["challenge"]).domain == "www.example.com"
