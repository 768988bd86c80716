"""The shared nonce store: one INSERT against a unique constraint decides whether a JWT is new."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from acme_challenge import nonce
from acme_challenge.models import UsedNonce
from acme_challenge.nonce import DatabaseNonceBackend

pytestmark = pytest.mark.django_db


def test_a_nonce_is_accepted_once_per_user() -> None:
    backend, now = DatabaseNonceBackend(), int(time.time())
    assert backend.validate_nonce("certbot", now, "abc") is True
    assert backend.validate_nonce("certbot", now, "abc") is False
    assert backend.validate_nonce("certbot", now + 1, "abc") is False
    assert backend.validate_nonce("other", now, "abc") is True


def test_a_second_backend_instance_sees_the_first_ones_nonces() -> None:
    now = int(time.time())
    assert DatabaseNonceBackend().validate_nonce("certbot", now, "abc") is True
    assert DatabaseNonceBackend().validate_nonce("certbot", now, "abc") is False


def test_logging_a_used_nonce_adds_nothing_because_validation_recorded_it() -> None:
    backend, now = DatabaseNonceBackend(), int(time.time())
    backend.validate_nonce("certbot", now, "abc")
    backend.log_used_nonce("certbot", now, "abc")
    assert UsedNonce.objects.count() == 1


def test_a_replay_inside_an_outer_transaction_leaves_that_transaction_usable() -> None:
    backend, now = DatabaseNonceBackend(), int(time.time())
    with transaction.atomic():
        assert backend.validate_nonce("certbot", now, "abc") is True
        assert backend.validate_nonce("certbot", now, "abc") is False
        assert UsedNonce.objects.count() == 1


@pytest.mark.parametrize(
    ("username", "timestamp", "value"),
    [
        ("certbot", int(time.time()), ""),
        ("certbot", int(time.time()), "n" * 256),
        ("certbot", int(time.time()), "a\x00b"),
        ("certbot", int(time.time()), ["a"]),
        ("certbot", "123", "abc"),
        ("certbot", True, "abc"),
        ("u" * 256, int(time.time()), "abc"),
        ("certbot", 10**400, "abc"),
        ("certbot", float("inf"), "abc"),
        ("certbot", float("nan"), "abc"),
        ("certbot", int(time.time()), 10**400),
        ("certbot", int(time.time()), float("inf")),
        ("certbot", int(time.time()), float("nan")),
    ],
    ids=[
        "empty",
        "too-long",
        "nul",
        "list",
        "string-time",
        "bool-time",
        "long-username",
        "time-10**400",
        "time-inf",
        "time-nan",
        "nonce-10**400",
        "nonce-inf",
        "nonce-nan",
    ],
)
def test_malformed_nonces_are_refused_without_being_stored(username, timestamp, value) -> None:
    assert DatabaseNonceBackend().validate_nonce(username, timestamp, value) is False
    assert not UsedNonce.objects.exists()


def test_pruning_deletes_only_nonces_older_than_twice_the_tolerance(settings) -> None:
    settings.ASYMMETRIC_JWT_AUTH = {**settings.ASYMMETRIC_JWT_AUTH, "TIMESTAMP_TOLERANCE": 20}
    now = 1_000_000
    UsedNonce.objects.create(username="u", nonce="old", timestamp=now - 41)
    UsedNonce.objects.create(username="u", nonce="edge", timestamp=now - 40)
    UsedNonce.objects.create(username="u", nonce="new", timestamp=now)
    assert nonce.prune(now=now) == 1
    assert sorted(UsedNonce.objects.values_list("nonce", flat=True)) == ["edge", "new"]


def test_validation_prunes_old_nonces_at_most_once_per_tolerance_period(monkeypatch) -> None:
    monkeypatch.setattr(nonce, "_last_prune", float("-inf"))
    UsedNonce.objects.create(username="u", nonce="ancient", timestamp=0)
    now = int(time.time())
    DatabaseNonceBackend().validate_nonce("u", now, "first")
    assert not UsedNonce.objects.filter(nonce="ancient").exists()
    UsedNonce.objects.create(username="u", nonce="ancient", timestamp=0)
    DatabaseNonceBackend().validate_nonce("u", now, "second")
    assert UsedNonce.objects.filter(nonce="ancient").exists()


def test_the_original_certbot_django_clients_float_time_and_nonce_are_accepted_once() -> None:
    # asymmetric-jwt-auth 0.4 signs time.time() and random.random().
    backend, now = DatabaseNonceBackend(), time.time()
    assert backend.validate_nonce("certbot", now, 0.8444218515250481) is True
    assert backend.validate_nonce("certbot", now, 0.8444218515250481) is False
    assert UsedNonce.objects.get().nonce == "0.8444218515250481"
    assert UsedNonce.objects.get().timestamp == int(now)
