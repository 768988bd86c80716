"""The SQL an API call runs (issue 16): one transaction, one read (user, permission, keys, scope) and four writes
(nonce, key's last use, challenge, audit record). These pin the statements so that a regression shows here, before
it shows in scripts/bench. The paths for databases without ``ON CONFLICT`` or ``DELETE ... RETURNING`` keep the same
rules, with more statements."""

from __future__ import annotations

import time

import pytest
from asymmetric_jwt_auth.models import PublicKey
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from acme_challenge import audit, models, nonce
from acme_challenge.models import AuditRecord, Challenge, KeyScope, UsedNonce

from .conftest import HOOK_PERMISSIONS, TOKEN, VALIDATION, delete, make_user, push

# A real transaction per call (not a savepoint inside the test's), as the site runs it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bob(bob_key):
    return make_user("bob", [bob_key], HOOK_PERMISSIONS)


@pytest.fixture(autouse=True)
def _no_periodic_purges(monkeypatch) -> None:
    """The purges of expired challenges, old nonces and old audit records run at most every few minutes per process;
    these tests count the statements of the calls between them."""
    now = time.monotonic()
    monkeypatch.setattr(models, "_last_expiry_purge", now)
    monkeypatch.setattr(nonce, "_last_prune", now)
    monkeypatch.setattr(audit, "_last_purge", now)


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Each statement's first words: the verb, and the table it writes."""
    shown = []
    for query in queries.captured_queries:
        words = query["sql"].replace('"', "").split()
        verb = words[0].upper()
        if verb == "INSERT":
            shown.append(f"INSERT {words[2]}")
        elif verb == "UPDATE":
            shown.append(f"UPDATE {words[1]}")
        elif verb == "DELETE":
            shown.append(f"DELETE {words[2]}")
        else:
            shown.append(verb)
    return shown


AUTHENTICATION = ["SELECT", "INSERT acme_challenge_usednonce", "UPDATE asymmetric_jwt_auth_publickey"]


def test_a_push_is_one_read_and_four_writes_in_one_transaction(alice, alice_key) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert push(Client(), alice_key, username="alice").status_code == 201
    assert statements(queries) == [
        "BEGIN",
        *AUTHENTICATION,
        "INSERT acme_challenge_challenge",
        "INSERT acme_challenge_auditrecord",
        "COMMIT",
    ]
    assert Challenge.objects.get().owner == alice
    assert UsedNonce.objects.count() == 1
    assert PublicKey.objects.get(user=alice).last_used_on is not None


def test_pushing_a_token_again_is_the_same_statements_and_replaces_it(alice, alice_key) -> None:
    assert push(Client(), alice_key, username="alice", domain="example.com").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert push(Client(), alice_key, username="alice", domain="www.example.com").status_code == 201
    assert len(queries) == 7
    assert Challenge.objects.get().domain == "www.example.com"


def test_a_delete_is_one_read_and_four_writes_in_one_transaction(alice, alice_key) -> None:
    assert push(Client(), alice_key, username="alice").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert delete(Client(), alice_key, username="alice").status_code == 204
    assert statements(queries) == [
        "BEGIN",
        *AUTHENTICATION,
        "DELETE acme_challenge_challenge",
        "INSERT acme_challenge_auditrecord",
        "COMMIT",
    ]
    assert not Challenge.objects.exists()
    assert AuditRecord.objects.filter(action="delete").get().domain == "example.com"


def test_a_push_over_another_users_token_reads_the_owner_only_to_name_it_and_changes_nothing(
    alice, alice_key, bob, bob_key
) -> None:
    assert push(Client(), alice_key, username="alice").status_code == 201
    before = Challenge.objects.values().get()
    with CaptureQueriesContext(connection) as queries:
        response = push(Client(), bob_key, username="bob", validation=TOKEN + ".other", domain="www.example.com")
    assert response.status_code == 409
    assert "alice" not in response.content.decode()
    assert AuditRecord.objects.get(status=409).reason == f"challenge {TOKEN} belongs to user 'alice', not to 'bob'"
    assert statements(queries) == [
        "BEGIN",
        *AUTHENTICATION,
        "INSERT acme_challenge_challenge",  # the upsert, which updated nothing
        "SELECT",  # the owner's name, for the message
        "INSERT acme_challenge_auditrecord",
        "COMMIT",
    ]
    assert Challenge.objects.values().get() == before


def test_permissions_held_through_a_group_are_answered_by_the_same_read(alice_key) -> None:
    user = make_user("carol", [alice_key], ())
    group = Group.objects.create(name="hooks")
    group.permissions.set(Permission.objects.filter(codename__in=HOOK_PERMISSIONS))
    user.groups.add(group)
    with CaptureQueriesContext(connection) as queries:
        assert push(Client(), alice_key, username="carol").status_code == 201
    assert len(queries) == 7


def test_a_user_without_the_permission_is_403_after_the_same_read(alice_key) -> None:
    make_user("dave", [alice_key], ("delete_challenge",))
    with CaptureQueriesContext(connection) as queries:
        assert push(Client(), alice_key, username="dave").status_code == 403
    assert statements(queries) == ["BEGIN", *AUTHENTICATION, "INSERT acme_challenge_auditrecord", "COMMIT"]
    assert not Challenge.objects.exists()


def test_a_superuser_needs_no_permission_rows(alice_key) -> None:
    make_user("root", [alice_key], (), is_superuser=True)
    assert push(Client(), alice_key, username="root").status_code == 201


def test_with_another_authentication_backend_the_permission_is_asked_of_has_perm(settings, alice_key) -> None:
    settings.AUTHENTICATION_BACKENDS = ["tests.test_queries_per_call.DenyingBackend"]
    make_user("erin", [alice_key], HOOK_PERMISSIONS)
    response = push(Client(), alice_key, username="erin")
    assert response.status_code == 403
    assert "lacks the permission acme_challenge.add_challenge" in response.content.decode()


class DenyingBackend:
    """An authentication backend that grants nothing, though the user has the permission rows."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return False


def test_a_scoped_key_deletes_an_ownerless_challenge_in_its_scope_only(alice, alice_key) -> None:
    KeyScope.objects.create(key=PublicKey.objects.get(user=alice), pattern="example.com")
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="example.org")
    Challenge.objects.create(token="inscope", validation="inscope.x", domain="example.com")
    assert delete(Client(), alice_key, TOKEN, username="alice").status_code == 404
    assert delete(Client(), alice_key, "inscope", username="alice").status_code == 204
    assert list(Challenge.objects.values_list("token", flat=True)) == [TOKEN]


@pytest.fixture
def without_upsert(monkeypatch) -> None:
    """As on a database without ``INSERT ... ON CONFLICT`` and ``DELETE ... RETURNING``."""
    monkeypatch.setattr(models, "UPSERT_VENDORS", ())
    monkeypatch.setattr(nonce, "UPSERT_VENDORS", ())
    monkeypatch.setattr(models, "_can_delete_returning", lambda connection: False)


def test_without_upsert_the_same_rules_hold(without_upsert, alice, alice_key, bob, bob_key) -> None:
    assert push(Client(), alice_key, username="alice", domain="example.com").status_code == 201
    assert push(Client(), alice_key, username="alice", domain="www.example.com").status_code == 201
    assert push(Client(), bob_key, username="bob").status_code == 409
    assert Challenge.objects.get().domain == "www.example.com"
    assert delete(Client(), bob_key, username="bob").status_code == 404
    assert delete(Client(), alice_key, username="alice").status_code == 204
    assert not Challenge.objects.exists()
    assert UsedNonce.objects.count() == 5


def test_without_upsert_a_replayed_nonce_is_refused_and_the_call_still_recorded(without_upsert, alice_key) -> None:
    make_user("frank", [alice_key], HOOK_PERMISSIONS)
    client = Client()
    first = push(client, alice_key, username="frank")
    assert first.status_code == 201
    headers = {"Authorization": first.request["HTTP_AUTHORIZATION"]}
    assert push(client, username="frank", headers=headers).status_code == 401
    assert list(AuditRecord.objects.order_by("id").values_list("status", flat=True)) == [201, 401]
