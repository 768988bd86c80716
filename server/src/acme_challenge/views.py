"""The public challenge URL and the two-view API the hooks call (the certbot-django protocol).

The API authenticates only by JWT (see middleware.py), so it is CSRF-exempt: CSRF protects cookie-authenticated
requests, and these views ignore cookies. Responses are text/plain, short, and name what to fix; none echoes a
credential.
"""

from __future__ import annotations

import json

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import conf
from .middleware import JWT_USER_ATTRIBUTE
from .models import MAX_VALUE_LENGTH, Challenge, servable_validation
from .validation import InvalidChallenge, domain_allowed, parse_challenge

ADD_PERMISSION = "acme_challenge.add_challenge"
DELETE_PERMISSION = "acme_challenge.delete_challenge"

TEXT = "text/plain; charset=utf-8"


@require_http_methods(["GET", "HEAD"])
def serve_challenge(request: HttpRequest, token: str) -> HttpResponse:
    """The URL the CA fetches: the key authorization, byte for byte, or 404."""
    validation = None
    if len(token) <= MAX_VALUE_LENGTH:
        validation = servable_validation(token)
    if validation is None:
        response = HttpResponse("no such challenge\n", status=404, content_type=TEXT)
    else:
        # Exactly "text/plain" as the issue states; the body is base64url and '.', so ASCII.
        response = HttpResponse(validation, content_type="text/plain")
    response["X-Content-Type-Options"] = "nosniff"
    # no-store on the 404 too: a cache or CDN that kept the 404 fetched before the push would fail the validation.
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["POST"])
def create_challenge(request: HttpRequest) -> HttpResponse:
    refusal = _refuse_unless_permitted(request, ADD_PERMISSION)
    if refusal:
        return refusal
    try:
        challenge = parse_challenge(_request_data(request))
    except InvalidChallenge as error:
        return HttpResponse(f"{error}\n", status=400, content_type=TEXT)

    allowed = conf.get_allowed_domains()
    if allowed is not None and not (challenge.domain and domain_allowed(challenge.domain, allowed)):
        if not challenge.domain:
            message = f"domain: required here, because {conf.ALLOWED_DOMAINS_SETTING} limits the domains"
        else:
            message = (
                f"domain: '{challenge.domain}' is not in {conf.ALLOWED_DOMAINS_SETTING}; "
                "add it (or a '*.' pattern covering it) to that setting on the site"
            )
        return HttpResponse(f"{message}\n", status=403, content_type=TEXT)

    with transaction.atomic():
        # Posting a token again replaces it and restarts its TTL (the certbot-django protocol had no update call).
        Challenge.objects.update_or_create(
            token=challenge.token,
            defaults={"validation": challenge.validation, "domain": challenge.domain, "created": timezone.now()},
        )
        Challenge.objects.expired().delete()
    return HttpResponse(f"created {challenge.token}\n", status=201, content_type=TEXT)


@csrf_exempt
@require_http_methods(["DELETE"])
def delete_challenge(request: HttpRequest, token: str) -> HttpResponse:
    refusal = _refuse_unless_permitted(request, DELETE_PERMISSION)
    if refusal:
        return refusal
    deleted, _ = Challenge.objects.filter(token=token).delete()
    if not deleted:
        return HttpResponse(f"no such challenge: {token}\n", status=404, content_type=TEXT)
    return HttpResponse(status=204)


def _refuse_unless_permitted(request: HttpRequest, permission: str) -> HttpResponse | None:
    user: AbstractBaseUser | AnonymousUser | None = getattr(request, JWT_USER_ATTRIBUTE, None)
    if user is None or not user.is_active:
        # Inactive users are treated as Django's ModelBackend treats them: they cannot authenticate.
        response = HttpResponse(
            "authentication required: send 'Authorization: JWT <token>' signed with a key registered for an active "
            "user (manage.py certbot_client), from a host whose clock is within the allowed skew\n",
            status=401,
            content_type=TEXT,
        )
        response["WWW-Authenticate"] = "JWT"
        return response
    if not user.has_perm(permission):
        return HttpResponse(
            f"user '{user.get_username()}' lacks the permission {permission}; "
            f"grant it with: manage.py certbot_client {user.get_username()}\n",
            status=403,
            content_type=TEXT,
        )
    return None


def _request_data(request: HttpRequest) -> dict[str, object]:
    """The pushed fields, from a form (as certbot-django's client sent them) or a JSON object."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidChallenge("body", "is not valid JSON") from error
        if not isinstance(data, dict):
            raise InvalidChallenge("body", "must be a JSON object with 'challenge', 'response' and 'domain'")
        return data
    fields: dict[str, object] = {}
    for field in ("challenge", "response", "domain"):
        values = request.POST.getlist(field)
        if len(values) > 1:
            raise InvalidChallenge(field, "was given more than once")
        fields[field] = values[0] if values else None
    return fields
