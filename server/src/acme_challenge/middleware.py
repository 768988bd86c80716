"""The optional fast path for the CA's fetches, and the inert remains of the JWT middleware.

Until issue 11 ``JWTAuthMiddleware`` here was asymmetric_jwt_auth's middleware, extended: it verified a JWT on every
path and set ``request.user``, so the key of a staff or superuser account opened the admin (``GET /admin/`` 200,
``POST /admin/auth/user/add/`` without a CSRF token). The JWT is now verified by the two API views themselves
(authentication.py) and no other view sees it. The class stays, doing nothing, so that settings that list it still
load; system check ``acme_challenge.W002`` asks to remove it from ``MIDDLEWARE``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .validation import TOKEN_PATTERN
from .views import serve_challenge


class JWTAuthMiddleware:
    """Deprecated and inert: passes every request on untouched. Remove it from ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


#: Where the CA fetches challenges: the app must be mounted under /.well-known/ (system check E004).
_CHALLENGE_PATH = re.compile(rf"/\.well-known/acme-challenge/(?P<token>{TOKEN_PATTERN})\Z")


class ServeChallengesFirstMiddleware:
    """Optional fast path, first in ``MIDDLEWARE``: answers the CA's GET and HEAD of
    ``/.well-known/acme-challenge/<token>`` with the challenge view before the rest of the stack runs.

    Sessions, authentication, CSRF, URL resolution and the other middleware cost more than the lookup itself (on one
    gunicorn worker about 0.3 ms of a 1.1 ms request; scripts/bench, P3), and none of them has anything to add to a
    public, credential-free answer. Everything else (other methods, malformed tokens) goes down the normal stack, so
    the answers are the same with or without this middleware. It does not consult ``ALLOWED_HOSTS``: the Host header
    is only compared with the name a challenge was pushed for, never used to build anything.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            match = _CHALLENGE_PATH.match(request.path_info)
            if match:
                return serve_challenge(request, match["token"])
        return self.get_response(request)
