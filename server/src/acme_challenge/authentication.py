"""Who is calling the challenge API: the JWT is verified here, by the two API views, and nowhere else.

Before issue 11 a middleware (asymmetric_jwt_auth's, extended) verified JWTs on every path and set ``request.user``, so
the key of a staff account opened the admin with no CSRF token. Now only the API views call :func:`authenticate`;
no other view ever sees a user from a JWT, and ``request.user`` is never set from one.

asymmetric_jwt_auth's own parts are used as they are: its user repository, nonce backend, key parsing and the decoy
verification that keeps unknown users as slow as known ones. The verification loop is ours, for three reasons:

* the API must know which key verified the signature, for the key's scope and the audit trail. The ``kid`` header
  cannot tell: it is chosen by the signer, and a user's second key could name the first;
* the request-binding claims (``htm``, ``htu``, ``bsh``) must be read, and checked before the nonce is spent, so that
  a token captured and replayed with another body or to this site from another host's request is refused without
  using up the nonce of the request it was made for;
* the audit trail records why a token was refused, which the library's ``None`` does not say.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlsplit

import jwt
from asymmetric_jwt_auth import get_setting
from asymmetric_jwt_auth import keys as jwt_keys
from asymmetric_jwt_auth.nonce import get_nonce_backend
from asymmetric_jwt_auth.repos.django import DjangoPublicKeyListRepository
from asymmetric_jwt_auth.tokens import UntrustedToken
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone

from . import accounts
from .audit import Call, one_line
from .conf import LEGACY_CLIENTS_SETTING, conf
from .names import host_name, request_host_name
from .refusal import Code, Refused

#: What a client is told when its JWT is refused, whatever the reason: telling "no such user" apart from "wrong key"
#: would let anyone list the site's users. The audit trail records the precise reason.
UNAUTHENTICATED = (
    "authentication required: send 'Authorization: JWT <token>' signed with a key registered for an active user "
    "(manage.py certbot_client), from a host whose clock is within the allowed skew"
)
BINDING_CLAIMS = ("htm", "htu", "bsh")
MISSING_BINDING = "JWT lacks the request-binding claims htm, htu, bsh"
#: Longer Authorization headers are refused unread. A JWT of this protocol is under 1,000 characters.
MAX_JWT_LENGTH = 8192
#: The range a JWT's ``time`` claim must be in, in seconds since 1970 (2001-09-09 to 2286-11-20): a clock's reading.
#: Outside it a number is no clock's, and may be too large for float arithmetic or a 64-bit column (10**400 was a 500).
TIME_RANGE = (1e9, 1e10)
#: Largest numeric nonce (the original client sends random.random(), a float in [0, 1)); larger ones are refused
#: before the nonce store sees them.
MAX_NUMERIC_NONCE = 2**53


@dataclass(frozen=True)
class Caller:
    """The verified sender of an API request."""

    user: AbstractBaseUser
    #: The id of the registered key whose signature verified.
    key_id: int
    fingerprint: str
    #: The names and ``*.suffix`` patterns that key may push for (its KeyScope rows); empty for any.
    scope: tuple[str, ...]
    #: Whether the user holds the permission :func:`authenticate` was asked about.
    permitted: bool


def authenticate(request: HttpRequest, body: bytes, call: Call, permission: str, *, legacy: bool = False) -> Caller:
    """Verify the request's JWT and its binding to this request, spend its nonce, record the key's last use, and
    return who sent it and whether they hold ``permission`` (``app_label.codename``); or raise :class:`Refused`
    (401). ``call`` learns the user and key as soon as the signature verifies.

    ``legacy``: whether this endpoint is one the original certbot-django plugin calls (push, delete). Only then, and
    only for the users ``ACME_CHALLENGE_LEGACY_CLIENTS`` names, is a JWT without the request-binding claims accepted.

    One read finds the user, the permission, the user's keys and their scopes (accounts.py); two writes spend the
    nonce and record the key's use. All run in the caller's transaction."""
    header = request.headers.get("Authorization")
    scheme = get_setting("AUTH_METHOD")
    if header is None:
        raise _unauthenticated("no Authorization header", "no-header")
    given_scheme, _, token = header.partition(" ")
    if given_scheme.upper() != scheme:
        raise _unauthenticated(f"the Authorization scheme is not {scheme}", "scheme")
    if not token or len(token) > MAX_JWT_LENGTH:
        raise _unauthenticated(f"the JWT is empty or longer than {MAX_JWT_LENGTH} characters", "length")
    untrusted = UntrustedToken(token)
    if not untrusted.has_supported_algorithm():
        raise _unauthenticated("the JWT is malformed or its alg is not one asymmetric_jwt_auth supports", "malformed")
    try:
        # Only the username is read here; the registered claims (exp, nbf, iat) are checked with the signature.
        unverified = jwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except (jwt.InvalidTokenError, ValueError, TypeError, UnicodeError, OverflowError) as error:
        # Only the exception type: its text may quote the token.
        raise _unauthenticated(f"the JWT is malformed ({type(error).__name__})", "malformed") from None
    username = unverified.get("username")
    if not isinstance(username, str) or not username:
        raise _unauthenticated("the JWT has no username claim", "malformed")
    try:
        found = accounts.find(username, permission)
    except ValueError:  # e.g. a NUL character, which PostgreSQL refuses in a query
        found = None
    if found is None:
        _simulate_verification(username, untrusted)
        raise _unauthenticated(f"no user {one_line(repr(username), 80)}", "unknown-user")
    user = found.user

    verified = _verify(user, found.keys, untrusted)
    if verified is None:
        raise _unauthenticated(f"the signature matches no key of user '{user.get_username()}'", "bad-signature")
    claims, key, parsed = verified
    call.user, call.key_fingerprint = user, parsed.fingerprint
    if isinstance(claims, str):
        raise _unauthenticated(f"the JWT's registered claims (exp, nbf, iat, aud, iss) are refused: {claims}")
    if not user.is_active:
        # Treated as Django's ModelBackend treats inactive users: they cannot authenticate.
        raise _unauthenticated(f"user '{user.get_username()}' is inactive")
    _check_time(claims)
    _check_binding(request, body, claims, user.get_username(), legacy=legacy)
    nonce = claims.get("nonce")
    _check_nonce_shape(nonce)
    nonce_backend = get_nonce_backend()
    if not nonce or not nonce_backend.validate_nonce(username, claims["time"], nonce):
        raise _unauthenticated("the JWT's nonce was already used (a replayed token) or is malformed")
    nonce_backend.log_used_nonce(username, claims["time"], nonce)
    accounts.record_key_use(key.id, timezone.now())
    # has_perm: PermissionsMixin's, or a custom user model's own (as Django's ModelBackend requires).
    permitted = found.permitted if found.permitted is not None else user.has_perm(permission)  # type: ignore[attr-defined]
    return Caller(user=user, key_id=key.id, fingerprint=parsed.fingerprint, scope=key.scope, permitted=permitted)


def _unauthenticated(reason: str, kind: str = "claims") -> Refused:
    """A 401 that tells the client nothing precise. ``kind`` classes the refusals of requests that proved no key,
    which the audit trail counts rather than stores (audit.count_refusal)."""
    return Refused(
        401,
        UNAUTHENTICATED,
        code=Code.JWT_REFUSED,
        reason=f"JWT refused: {reason}",
        headers={"WWW-Authenticate": "JWT"},
        kind=kind,
    )


def _verify(
    user: AbstractBaseUser, keys: list[accounts.Key], untrusted: UntrustedToken
) -> tuple[dict[str, Any] | str, accounts.Key, ParsedKey] | None:
    """The verified claims, and the stored and parsed key whose signature verified, or None. In place of the claims,
    why PyJWT refused them (an expired ``exp``, an ``iat`` of Infinity) when the signature verified."""
    tried = False
    for key in keys:
        parsed = _parse_key(key.text)
        if parsed is None:  # a key pasted into the admin may be unreadable; it verifies nothing
            continue
        if not untrusted.has_supported_algorithm(parsed.algorithms):
            continue
        tried = True
        try:
            jwt.api_jws.decode_complete(untrusted.token, parsed.verifier, algorithms=list(parsed.algorithms))
        except (jwt.InvalidTokenError, ValueError, TypeError):
            continue
        # The signature verified: the key is proved, whatever the claims hold. Then PyJWT's checks of the registered
        # claims, apart, so that a refusal of theirs is told from a signature that does not verify.
        try:
            claims = jwt.decode(
                untrusted.token,
                options={
                    "verify_signature": False,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError) as error:
            return f"{type(error).__name__}: {one_line(str(error), 120)}", key, parsed
        return claims, key, parsed
    if not tried:
        _simulate_verification(user.get_username(), untrusted)
    return None


@dataclass(frozen=True)
class ParsedKey:
    """A registered key as loaded once per process: parsing its PEM and hashing it for the fingerprint on every
    request cost more than verifying the signature."""

    #: The cryptography key object, which PyJWT verifies with as it is (a PEM string it would parse again).
    verifier: Any
    algorithms: tuple[str, ...]
    fingerprint: str


@lru_cache(maxsize=1024)
def _parse_key(text: str) -> ParsedKey | None:
    """The key stored as ``text`` (PEM or OpenSSH), parsed; None if it is unreadable. Keyed by the text itself, so an
    edited key is parsed afresh."""
    _, public_key = jwt_keys.PublicKey.load_serialized_public_key(text.encode())
    if public_key is None:
        return None
    return ParsedKey(
        # The facade keeps the cryptography key in _key and has no accessor for it.
        verifier=public_key._key,
        algorithms=tuple(public_key.allowed_algorithms),
        fingerprint=public_key.fingerprint,
    )


@cache
def _decoys() -> DjangoPublicKeyListRepository:
    # Generates its decoy keys once per process, on the first token that needs them.
    return DjangoPublicKeyListRepository()


def _simulate_verification(username: str, untrusted: UntrustedToken) -> None:
    """Spend the time a real verification would (asymmetric_jwt_auth's decoys), so that the answer's timing does not
    tell whether the user, or a key of the token's type, exists."""
    with contextlib.suppress(jwt.InvalidTokenError, ValueError, TypeError):
        _decoys().simulate_attempt_to_verify_token(username, untrusted)


def _check_time(claims: dict[str, Any]) -> None:
    """The ``time`` claim: a finite number in :data:`TIME_RANGE`, within the tolerance of the site's clock. JSON
    admits NaN and Infinity, which Python reads as floats (NaN compares false with everything, so it passed the
    tolerance check), and integers of any size (10**400 overflowed the subtraction below: a 500)."""
    claimed = claims.get("time")
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)) or not claimed:
        raise _unauthenticated("the JWT's time claim is missing or not a number")
    if isinstance(claimed, float) and not math.isfinite(claimed):
        raise _unauthenticated(f"the JWT's time claim is {claimed!r}, not a finite number")
    if not TIME_RANGE[0] <= claimed <= TIME_RANGE[1]:
        shown = repr(claimed) if len(repr(claimed)) <= 24 else f"a number of {len(str(abs(int(claimed))))} digits"
        raise _unauthenticated(
            f"the JWT's time claim is {shown}, outside {TIME_RANGE[0]:.0e} to {TIME_RANGE[1]:.0e} seconds since 1970"
        )
    tolerance = get_setting("TIMESTAMP_TOLERANCE")
    skew = claimed - time.time()
    if abs(skew) > tolerance:
        raise _unauthenticated(f"the JWT's time is {skew:+.0f} s off the site's clock (tolerance {tolerance} s)")


def _check_nonce_shape(nonce: object) -> None:
    """A nonce is a non-empty string, or a finite number of sane size (the original client's random.random())."""
    if isinstance(nonce, bool) or not isinstance(nonce, (str, int, float)) or not nonce:
        raise _unauthenticated("the JWT's nonce claim is missing, empty or not a string or number")
    if isinstance(nonce, float) and not math.isfinite(nonce):
        raise _unauthenticated(f"the JWT's nonce claim is {nonce!r}, not a finite number")
    if isinstance(nonce, int) and abs(nonce) > MAX_NUMERIC_NONCE:
        raise _unauthenticated(f"the JWT's nonce claim is a number larger than {MAX_NUMERIC_NONCE}")


def _check_binding(request: HttpRequest, body: bytes, claims: dict[str, Any], username: str, *, legacy: bool) -> None:
    """The token must name this request's method, host and path, and the SHA-256 of its body (as DPoP, RFC 9449,
    binds a proof to ``htm`` and ``htu``). The scheme is not compared: TLS often ends at a proxy. A token without
    any of the claims passes only on a ``legacy`` endpoint for a user ``ACME_CHALLENGE_LEGACY_CLIENTS`` names."""
    present = [claim for claim in BINDING_CLAIMS if claim in claims]
    if not present:
        if not legacy:
            raise _binding_refused(
                Code.BINDING_MISSING,
                f"{MISSING_BINDING}: this URL takes only request-bound tokens (the original certbot-django plugin "
                "never called it); upgrade the client (the hooks of certbot-django-hooks)",
            )
        if conf.is_legacy_client(username):
            return
        raise _binding_refused(
            Code.LEGACY_NOT_ALLOWED,
            f"{MISSING_BINDING}: upgrade the client, or, for the original certbot-django plugin, name user "
            f"'{one_line(username, 150)}' in {LEGACY_CLIENTS_SETTING} on the site",
        )
    missing = [claim for claim in BINDING_CLAIMS if claim not in claims]
    if missing:
        raise _binding_refused(
            Code.BINDING_MALFORMED,
            f"JWT lacks the request-binding claim {', '.join(missing)} beside {', '.join(present)}: "
            "a client sends all three or none",
        )
    htm, htu, bsh = (claims[claim] for claim in BINDING_CLAIMS)
    if not all(isinstance(value, str) for value in (htm, htu, bsh)):
        raise _binding_refused(Code.BINDING_MALFORMED, "JWT request-binding claims htm, htu and bsh must be strings")
    try:
        bound = urlsplit(htu)
    except ValueError:
        bound = urlsplit("")
    bound_host = host_name(bound.netloc)
    host = request_host_name(request.META)
    if htm != request.method or not bound_host or bound_host != host or bound.path != request.path:
        raise _binding_refused(
            Code.BINDING_MISMATCH,
            f"JWT is bound to {one_line(htm, 10)} {one_line(htu, 300)} but this request is {request.method} "
            f"to host '{host}' path '{request.path}'",
        )
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=")
    if not hmac.compare_digest(bsh.encode(), digest):
        raise _binding_refused(Code.BINDING_MISMATCH, "JWT body hash does not match the request body")


def _binding_refused(code: Code, message: str) -> Refused:
    """A 401 for a token whose signature verified but whose binding to this request fails: it may say why."""
    return Refused(401, message, code=code, headers={"WWW-Authenticate": "JWT"})
