"""Serving bound to the name: a challenge pushed for a domain is served only to requests whose Host names it, so a
key allowed to push for one name cannot get a certificate for another name the site answers for. Any other Host gets
the same 404 as an unknown token."""

from __future__ import annotations

import pytest
from django.test import Client

from acme_challenge.models import Challenge
from acme_challenge.monitoring import FETCHES_RECORDED

from .conftest import SERVE, TOKEN, VALIDATION

pytestmark = pytest.mark.django_db

FAST_PATH = "acme_challenge.middleware.ServeChallengesFirstMiddleware"


@pytest.fixture(params=["stack", "fast-path"])
def path_through(request, settings) -> str:
    # Django's own Host validation is not what is tested here (it answers 400 before the view for hosts not allowed).
    settings.ALLOWED_HOSTS = ["*"]
    if request.param == "fast-path":
        settings.MIDDLEWARE = [FAST_PATH, *settings.MIDDLEWARE]
    return request.param


def fetch(host: str):
    return Client().get(SERVE + TOKEN, headers={"Host": host})


@pytest.mark.parametrize(
    ("domain", "host"),
    [
        ("www.example.com", "www.example.com"),
        ("www.example.com", "WWW.Example.COM"),
        ("www.example.com", "www.example.com:8080"),
        ("www.example.com", "www.example.com."),
        ("www.example.com", "www.example.com.:80"),
        ("2001:db8::1", "[2001:db8::1]"),
        ("2001:db8::1", "[2001:DB8:0:0::1]:80"),
        ("127.0.0.1", "127.0.0.1:8000"),
    ],
)
def test_the_challenge_is_served_to_its_own_name_in_any_spelling(path_through, domain, host) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain=domain)
    response = fetch(host)
    assert response.status_code == 200
    assert response.content == VALIDATION.encode()


@pytest.mark.parametrize(
    "host",
    ["alice.example.com", "example.com", "www.example.com.evil", "bob.example.com.alice.example.com", "[::1]"],
)
def test_any_other_host_gets_the_same_404_as_an_unknown_token(path_through, host) -> None:
    unknown = fetch("bob.example.com")
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="bob.example.com")
    response = fetch(host)
    assert response.status_code == unknown.status_code == 404
    assert response.content == unknown.content == b"no such challenge\n"
    assert response.headers == unknown.headers


def test_serving_by_host_still_takes_one_query(path_through, django_assert_num_queries) -> None:
    # Once its first fetches are recorded (tests/test_monitoring.py): after that, nothing but the lookup.
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="bob.example.com", fetch_count=FETCHES_RECORDED)
    with django_assert_num_queries(1):
        assert fetch("bob.example.com").status_code == 200
    with django_assert_num_queries(1):
        assert fetch("alice.example.com").status_code == 404


def test_post_on_the_challenge_url_is_405_not_a_csrf_page(path_through) -> None:
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="example.com")
    for method in ("post", "put", "delete", "patch"):
        response = getattr(Client(enforce_csrf_checks=True), method)(SERVE + TOKEN, headers={"Host": "example.com"})
        assert response.status_code == 405, method
        assert response["Allow"] == "GET, HEAD"
        assert response["Content-Type"].startswith("text/plain")
    assert Challenge.objects.exists()
