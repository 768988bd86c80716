"""Owned challenges: a challenge belongs to the user who pushed it. Another user can neither overwrite it (409, naming
nobody: the audit record names both) nor delete it (the same 404 as an unknown token, which the hooks treat as
done)."""

from __future__ import annotations

import pytest
from django.test import Client

from acme_challenge.models import Challenge

from .conftest import HOOK_PERMISSIONS, TOKEN, VALIDATION, delete, make_user, push

#: Issue 19: the 409 used to say "belongs to user 'alice'", telling any key who pushes which names.
NEUTRAL_409 = (
    f"challenge {TOKEN} is held by another user; certbot makes a new token for each attempt, so retry the validation\n"
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(db, bob_key):
    return make_user("bob", [bob_key], HOOK_PERMISSIONS)


def test_a_pushed_challenge_belongs_to_its_pusher(client: Client, alice, alice_key) -> None:
    assert push(client, alice_key, username="alice").status_code == 201
    assert Challenge.objects.get().owner == alice


def test_another_users_push_of_the_same_token_is_409_and_changes_nothing(
    client: Client, alice, bob, alice_key, bob_key
) -> None:
    push(client, alice_key, username="alice", domain="alice.example.com")
    response = push(client, bob_key, username="bob", validation=TOKEN + ".bobs", domain="bob.example.com")
    assert response.status_code == 409
    assert response.content.decode() == NEUTRAL_409
    assert "alice" not in response.content.decode()
    challenge = Challenge.objects.get()
    assert (challenge.validation, challenge.domain, challenge.owner) == (VALIDATION, "alice.example.com", alice)


def test_another_users_delete_is_404_and_deletes_nothing(client: Client, alice, bob, alice_key, bob_key) -> None:
    push(client, alice_key, username="alice")
    response = delete(client, bob_key, username="bob")
    assert response.status_code == 404
    assert response.content.decode() == f"no such challenge: {TOKEN}\n"
    assert Challenge.objects.filter(owner=alice).exists()


def test_the_owner_may_push_again_and_delete(client: Client, alice, alice_key) -> None:
    push(client, alice_key, username="alice", domain="old.example.com")
    assert push(client, alice_key, username="alice", domain="new.example.com").status_code == 201
    assert Challenge.objects.get().domain == "new.example.com"
    assert delete(client, alice_key, username="alice").status_code == 204


def test_a_row_from_before_owners_existed_may_be_replaced_and_is_then_owned(client: Client, bob, bob_key) -> None:
    Challenge.objects.create(token=TOKEN, validation=TOKEN + ".old", domain="example.com")
    assert push(client, bob_key, username="bob").status_code == 201
    challenge = Challenge.objects.get()
    assert (challenge.validation, challenge.owner) == (VALIDATION, bob)


def test_a_row_from_before_owners_existed_may_be_deleted(client: Client, bob, bob_key) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="example.com")
    assert delete(client, bob_key, username="bob").status_code == 204
    assert not Challenge.objects.exists()
