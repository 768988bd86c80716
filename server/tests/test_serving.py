"""The public URL the CA fetches: exactly the validation, or 404; never a redirect or a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from acme_challenge.models import Challenge
from acme_challenge.monitoring import FETCHES_RECORDED

from .conftest import SERVE, TOKEN, VALIDATION

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    """The CA: it fetches the challenge from the name being validated."""
    return Client(headers={"Host": "example.com"})


@pytest.fixture
def stored() -> Challenge:
    return Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="example.com")


def test_a_stored_challenge_is_served_as_exactly_its_validation_in_plain_text(client: Client, stored) -> None:
    response = client.get(SERVE + TOKEN)
    assert response.status_code == 200
    assert response.content == VALIDATION.encode()
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"


def test_head_answers_with_the_same_status_and_headers_without_a_body(client: Client, stored) -> None:
    response = client.head(SERVE + TOKEN)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response["Cache-Control"] == "no-store"
    assert response.content == b""


def test_serving_a_challenge_takes_one_query(client: Client, stored, django_assert_num_queries) -> None:
    # Once its first fetches are recorded (tests/test_monitoring.py): after that, nothing but the lookup.
    Challenge.objects.filter(pk=stored.pk).update(fetch_count=FETCHES_RECORDED)
    with django_assert_num_queries(1):
        assert client.get(SERVE + TOKEN).status_code == 200


def test_serving_needs_no_authentication_and_ignores_a_bad_one(client: Client, stored) -> None:
    response = client.get(SERVE + TOKEN, headers={"Authorization": "JWT garbage"})
    assert response.status_code == 200


def test_an_unknown_token_is_404_and_the_404_is_not_cacheable(client: Client) -> None:
    response = client.get(SERVE + TOKEN)
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"


def test_a_challenge_older_than_the_ttl_is_not_served(client: Client, stored, settings) -> None:
    settings.ACME_CHALLENGE_TTL = 60
    Challenge.objects.filter(pk=stored.pk).update(created=timezone.now() - timedelta(seconds=61))
    assert client.get(SERVE + TOKEN).status_code == 404
    Challenge.objects.filter(pk=stored.pk).update(created=timezone.now() - timedelta(seconds=59))
    assert client.get(SERVE + TOKEN).status_code == 200


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path",
    [
        SERVE + TOKEN + "/",
        SERVE + TOKEN + ".x",
        SERVE + "a.b",
        SERVE + "..%2f..%2fetc%2fpasswd",
        SERVE + "a%00b",
        SERVE + "%C3%A9t%C3%A9",
        SERVE + "a%20b",
        SERVE + "a" * 5000,
        SERVE,
        "/.well-known/acme-challenge",
        "/.well-known/acme-challenge//" + TOKEN,
    ],
    ids=[
        "trailing-slash",
        "dot-suffix",
        "dot",
        "traversal",
        "nul",
        "unicode",
        "space",
        "very-long",
        "empty",
        "no-slash",
        "double-slash",
    ],
)
def test_odd_challenge_paths_are_404_never_a_redirect_or_500(path: str, debug: bool, stored, settings) -> None:
    settings.DEBUG = debug
    settings.APPEND_SLASH = True
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 404


def test_methods_other_than_get_and_head_are_405(client: Client, stored) -> None:
    assert client.post(SERVE + TOKEN).status_code == 405
    assert client.delete(SERVE + TOKEN).status_code == 405
    assert Challenge.objects.filter(token=TOKEN).exists()


FAST_PATH = "acme_challenge.middleware.ServeChallengesFirstMiddleware"


@pytest.fixture
def fast_path(settings) -> None:
    settings.MIDDLEWARE = [FAST_PATH, *settings.MIDDLEWARE]


def test_the_fast_path_serves_a_challenge_before_the_rest_of_the_stack(
    client: Client, stored, fast_path, django_assert_num_queries
) -> None:
    Challenge.objects.filter(pk=stored.pk).update(fetch_count=FETCHES_RECORDED)
    with django_assert_num_queries(1):
        response = client.get(SERVE + TOKEN)
    assert response.status_code == 200
    assert response.content == VALIDATION.encode()
    assert response["Content-Type"] == "text/plain"
    assert response["Cache-Control"] == "no-store"
    # SecurityMiddleware, later in MIDDLEWARE, adds Referrer-Policy to every response it sees: it never saw this one.
    assert "Referrer-Policy" not in response


def test_without_the_fast_path_the_same_answer_comes_through_the_whole_stack(client: Client, stored) -> None:
    response = client.get(SERVE + TOKEN)
    assert response.content == VALIDATION.encode()
    assert "Referrer-Policy" in response


def test_the_fast_path_answers_unknown_tokens_with_404(client: Client, fast_path) -> None:
    response = client.get(SERVE + "unknown-token")
    assert response.status_code == 404
    assert "Referrer-Policy" not in response


@pytest.mark.parametrize(
    ("method", "path", "status"), [("post", TOKEN, 405), ("get", "a.b", 404), ("get", TOKEN + "/", 404)]
)
def test_the_fast_path_leaves_other_requests_to_the_normal_stack(
    client: Client, stored, fast_path, method: str, path: str, status: int
) -> None:
    response = getattr(client, method)(SERVE + path)
    assert response.status_code == status
    assert "Referrer-Policy" in response
