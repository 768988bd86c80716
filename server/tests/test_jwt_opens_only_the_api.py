"""The JWT authenticates the challenge API and nothing else: no other view sees a user from it, admin included.

Before issue 11 a middleware verified JWTs on every path, so the key of a staff or superuser account (as
certbot-django's guide set them up) opened the admin: ``GET /admin/`` answered 200 and ``POST /admin/auth/user/add/``
created a user.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from .conftest import bound_auth, form, make_user, push

pytestmark = pytest.mark.django_db

ADD_USER = "/admin/auth/user/add/"


@pytest.fixture
def staff(db, ed25519_key) -> User:
    return make_user("certbot", [ed25519_key], ("add_challenge", "delete_challenge"), is_staff=True, is_superuser=True)


def test_a_superusers_jwt_gets_no_admin_page_but_the_login_redirect(staff, ed25519_key) -> None:
    response = Client().get("/admin/", headers=bound_auth(ed25519_key, "GET", "/admin/"))
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


@pytest.mark.parametrize("enforce_csrf_checks", [True, False])
def test_a_superusers_jwt_cannot_add_a_user_through_the_admin(staff, ed25519_key, enforce_csrf_checks) -> None:
    body = form(username="intruder", password1="x-Very-long-pass-1", password2="x-Very-long-pass-1")
    response = Client(enforce_csrf_checks=enforce_csrf_checks).post(
        ADD_USER,
        body,
        content_type="application/x-www-form-urlencoded",
        headers=bound_auth(ed25519_key, "POST", ADD_USER, body),
    )
    # Without a session: CSRF's 403 where it is enforced, else the login redirect. Never a created user.
    assert response.status_code == (403 if enforce_csrf_checks else 302)
    assert not User.objects.filter(username="intruder").exists()


def test_the_same_key_still_pushes_challenges(client: Client, staff, ed25519_key) -> None:
    assert push(client, ed25519_key).status_code == 201


def test_a_jwt_never_becomes_request_user_even_on_the_api(client: Client, staff, ed25519_key, monkeypatch) -> None:
    seen = []
    from acme_challenge import views

    real = views.authenticate

    def spy(request, body, call, permission, **options):
        caller = real(request, body, call, permission, **options)
        seen.append(request.user)
        return caller

    monkeypatch.setattr(views, "authenticate", spy)
    assert push(client, ed25519_key).status_code == 201
    assert [user.is_authenticated for user in seen] == [False]
