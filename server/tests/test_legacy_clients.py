"""Legacy mode, narrowed. A token without the request-binding claims (what the original certbot-django
plugin signs) is accepted only on the plugin's two calls, push and delete, and only for the users
``ACME_CHALLENGE_LEGACY_CLIENTS`` names (``True``: every user, with system check W006). A push without ``domain`` is
a legacy call and follows the same rule. The certificate report never takes an unbound token.

Before: with the setting on, an unbound token was accepted by every endpoint, certificate reports included, for
every user of the site."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from acme_challenge.models import AuditRecord, CertificateReport, Challenge

from .conftest import API, FORM, TOKEN, VALIDATION, auth, bound_auth, form, make_user

pytestmark = pytest.mark.django_db

PERMISSIONS = ("add_challenge", "delete_challenge", "add_certificatereport")
REPORTS = "/.well-known/certificates/"
NO_DOMAIN = form(challenge=TOKEN, response=VALIDATION)


@pytest.fixture
def users(rsa_key, ed25519_key):
    """certbot still runs the old plugin; alice does not."""
    return make_user("certbot", [rsa_key], PERMISSIONS), make_user("alice", [ed25519_key], PERMISSIONS)


def legacy_push(client: Client, key, username: str):
    return client.post(API, {"challenge": TOKEN, "response": VALIDATION}, headers=auth(key, username))


def legacy_delete(client: Client, key, username: str):
    return client.delete(API + TOKEN + "/", headers=auth(key, username))


def legacy_report(client: Client, key, username: str):
    body = json.dumps({"chain": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}).encode()
    return client.post(REPORTS, body, content_type="application/json", headers=auth(key, username))


@pytest.mark.parametrize("setting", [["certbot"], ("certbot",), True])
def test_a_named_user_pushes_and_deletes_with_the_old_plugins_tokens(
    client: Client, settings, users, rsa_key, setting
) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = setting
    assert legacy_push(client, rsa_key, "certbot").status_code == 201
    assert Challenge.objects.get().domain == ""  # the old plugin sends no domain
    assert legacy_delete(client, rsa_key, "certbot").status_code == 204
    assert not Challenge.objects.exists()


@pytest.mark.parametrize("setting", [["certbot"], False])
def test_a_user_not_named_is_refused_on_push_and_delete_naming_the_setting(
    client: Client, settings, users, ed25519_key, setting
) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = setting
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, owner=users[1])
    for response in (legacy_push(client, ed25519_key, "alice"), legacy_delete(client, ed25519_key, "alice")):
        assert response.status_code == 401
        assert "name user 'alice' in ACME_CHALLENGE_LEGACY_CLIENTS" in response.content.decode()
    assert Challenge.objects.get().validation == VALIDATION
    assert list(AuditRecord.objects.values_list("username", "status")) == [("alice", 401)] * 2


@pytest.mark.parametrize("setting", [["certbot"], True])
def test_no_user_reports_a_certificate_with_an_unbound_token(client: Client, settings, users, rsa_key, setting):
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = setting
    response = legacy_report(client, rsa_key, "certbot")
    assert response.status_code == 401
    assert "this URL takes only request-bound tokens" in response.content.decode()
    assert "upgrade the client (the hooks of certbot-django-hooks)" in response.content.decode()
    assert not CertificateReport.objects.exists()


def test_a_bound_push_without_domain_is_a_legacy_call(client: Client, settings, users, rsa_key, ed25519_key) -> None:
    settings.ACME_CHALLENGE_LEGACY_CLIENTS = ["certbot"]
    refused = client.post(
        API, NO_DOMAIN, content_type=FORM, headers=bound_auth(ed25519_key, "POST", API, NO_DOMAIN, username="alice")
    )
    assert refused.status_code == 400
    assert "domain: is required" in refused.content.decode()
    accepted = client.post(
        API, NO_DOMAIN, content_type=FORM, headers=bound_auth(rsa_key, "POST", API, NO_DOMAIN, username="certbot")
    )
    assert accepted.status_code == 201
    assert Challenge.objects.get().domain == ""
