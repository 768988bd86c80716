"""asymmetric_jwt_auth's JWT middleware, made safe for a public API and explicit about who authenticated.

Two facts about ``asymmetric_jwt_auth.middleware.JWTAuthMiddleware`` 1.3.0 make it unfit to use bare here:

* It decodes the claims of any token whose header names a supported ``alg`` with ``jwt.decode`` and lets
  ``jwt.DecodeError`` escape, so ``Authorization: JWT <header>.!!!.x`` answers 500. This subclass turns every error
  that bad input can cause into "not authenticated", so the view answers 401.
* It sets ``request.user`` and nothing else. The challenge API must authenticate by JWT only, never by a session cookie
  (a logged-in admin's browser must not be able to push challenges through CSRF-exempt views), so this subclass also
  records the JWT user as ``request.acme_challenge_jwt_user``, which is all the API views look at.

The user is looked up, the signature verified and the nonce consumed by the library's own code, unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import jwt
from asymmetric_jwt_auth.middleware import JWTAuthMiddleware as LibraryJWTAuthMiddleware
from django.http import HttpRequest, HttpResponse

from .validation import TOKEN_PATTERN

logger = logging.getLogger(__name__)

#: The request attribute holding the user authenticated by a JWT on this request, if any.
JWT_USER_ATTRIBUTE = "acme_challenge_jwt_user"

_UNSET = object()


class JWTAuthMiddleware(LibraryJWTAuthMiddleware):
    """Drop-in replacement for ``asymmetric_jwt_auth.middleware.JWTAuthMiddleware``; use one of the two, not both."""

    def authorize_request(self, request: HttpRequest) -> HttpRequest:
        setattr(request, JWT_USER_ATTRIBUTE, None)
        before = request.__dict__.get("user", _UNSET)
        try:
            super().authorize_request(request)
        except (jwt.InvalidTokenError, ValueError, TypeError, UnicodeError) as error:
            # Only the exception type: its text may quote the token, and certbot hosts' tokens must not be logged.
            logger.info("Rejected a malformed JWT (%s)", type(error).__name__)
            return request
        after = request.__dict__.get("user", _UNSET)
        # The library assigns the verified user object; AuthenticationMiddleware's lazy session user is another object.
        if after is not before and after is not _UNSET:
            setattr(request, JWT_USER_ATTRIBUTE, after)
        return request


#: Where the CA fetches challenges: the app must be mounted under /.well-known/ (system check E004).
_CHALLENGE_PATH = re.compile(rf"/\.well-known/acme-challenge/(?P<token>{TOKEN_PATTERN})\Z")


class ServeChallengesFirstMiddleware:
    """Optional fast path, first in ``MIDDLEWARE``: answers the CA's GET and HEAD of
    ``/.well-known/acme-challenge/<token>`` with the challenge view before the rest of the stack runs.

    Sessions, authentication, CSRF, URL resolution and the other middleware cost more than the lookup itself (on one
    gunicorn worker about 0.3 ms of a 1.1 ms request; scripts/bench, P3), and none of them has anything to add to a
    public, credential-free answer. Everything else (other methods, malformed tokens) goes down the normal stack, so
    the answers are the same with or without this middleware. It does not consult ``ALLOWED_HOSTS``: the response
    builds no URL from the Host header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            match = _CHALLENGE_PATH.match(request.path_info)
            if match:
                from .views import serve_challenge  # views import this module

                return serve_challenge(request, match["token"])
        return self.get_response(request)
