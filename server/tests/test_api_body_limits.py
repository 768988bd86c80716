"""Bounded input: request bodies have a size limit and JSON a nesting limit, each a 400 with a clear message (100,000
``[`` used to answer 500)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from acme_challenge.models import Challenge

from .conftest import API, FORM, TOKEN, VALIDATION, bound_auth

pytestmark = pytest.mark.django_db

TOO_LARGE = "body: larger than 4096 bytes; a push is one form or JSON object of three short fields\n"


def post(client: Client, key, body: bytes, content_type: str = "application/json"):
    return client.post(API, body, content_type=content_type, headers=bound_auth(key, "POST", API, body))


@pytest.mark.parametrize("content_type", ["application/json", FORM])
def test_a_body_over_the_limit_is_400(client: Client, certbot_user, ed25519_key, content_type) -> None:
    response = post(client, ed25519_key, b"[" * 100_000, content_type)
    assert response.status_code == 400
    assert response.content.decode() == TOO_LARGE
    assert not Challenge.objects.exists()


def test_a_body_over_the_limit_is_refused_before_authentication(client: Client, certbot_user) -> None:
    response = client.post(API, b"x" * 5000, content_type=FORM)
    assert response.status_code == 400
    assert response.content.decode() == TOO_LARGE


def test_a_body_at_the_limit_is_read(client: Client, certbot_user, ed25519_key) -> None:
    body = f"challenge={TOKEN}&response={VALIDATION}&domain=example.com&pad=".encode()
    body += b"x" * (4096 - len(body))
    assert post(client, ed25519_key, body, FORM).status_code == 201


def test_deeply_nested_json_is_400_naming_the_limit(client: Client, certbot_user, ed25519_key) -> None:
    response = post(client, ed25519_key, b"[" * 2000 + b"]" * 2000)
    assert response.status_code == 400
    assert response.content.decode() == (
        "body: JSON nested deeper than 4 levels; send one flat object with 'challenge', 'response' and 'domain'\n"
    )


def test_brackets_inside_strings_do_not_count_as_nesting(client: Client, certbot_user, ed25519_key) -> None:
    note = json.dumps('[[[[[[{{{{\\"[[[')
    body = f'{{"challenge": "{TOKEN}", "response": "{VALIDATION}", "domain": "example.com", "note": {note}}}'.encode()
    assert post(client, ed25519_key, body).status_code == 201


def test_json_nested_within_the_limit_is_parsed(client: Client, certbot_user, ed25519_key) -> None:
    body = f'{{"challenge": "{TOKEN}", "response": "{VALIDATION}", "domain": "example.com", "x": [[[1]]]}}'.encode()
    assert post(client, ed25519_key, body).status_code == 201
