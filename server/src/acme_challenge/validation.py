"""What a well-formed challenge push is, and which domains may be pushed.

Kept apart from the views so that the rules, and the messages a client sees, read in one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .models import MAX_DOMAIN_LENGTH, MAX_VALUE_LENGTH

TOKEN_PATTERN = r"[A-Za-z0-9_-]+"
_TOKEN_RE = re.compile(rf"{TOKEN_PATTERN}\Z")
_VALIDATION_RE = re.compile(rf"{TOKEN_PATTERN}\.{TOKEN_PATTERN}\Z")
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


class InvalidChallenge(ValueError):
    """A pushed field is missing or malformed. ``str()`` is the message for the client and starts with the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class ChallengeInput:
    token: str
    validation: str
    #: Lower-case, without a trailing dot; empty if the client sent none.
    domain: str


def parse_challenge(data: dict[str, object]) -> ChallengeInput:
    """Validate the ``challenge``, ``response`` and optional ``domain`` fields (the certbot-django protocol)."""
    token = _required_string(data, "challenge")
    validation = _required_string(data, "response")
    if len(token.encode()) > MAX_VALUE_LENGTH or not _TOKEN_RE.match(token):
        raise InvalidChallenge(
            "challenge", f"must be the ACME token: 1 to {MAX_VALUE_LENGTH} characters from A-Z a-z 0-9 _ -"
        )
    if len(validation.encode()) > MAX_VALUE_LENGTH or not _VALIDATION_RE.match(validation):
        raise InvalidChallenge(
            "response",
            f"must be the key authorization '<token>.<base64url thumbprint>', at most {MAX_VALUE_LENGTH} characters",
        )
    if not validation.startswith(token + "."):
        raise InvalidChallenge("response", "must start with the token given as 'challenge', followed by '.'")
    return ChallengeInput(token=token, validation=validation, domain=parse_domain(data.get("domain")))


def parse_domain(value: object) -> str:
    """The normalized identifier, or ``""`` if none was given."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidChallenge("domain", "must be a string")
    domain = value.lower()
    if domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]
    if domain.startswith("*."):
        raise InvalidChallenge("domain", "HTTP-01 cannot validate a wildcard name; use a DNS-01 challenge for it")
    if _is_ip_address(domain):
        return domain
    if not domain.isascii():
        raise InvalidChallenge("domain", "must be ASCII: give an internationalized name in its 'xn--' form")
    labels = domain.split(".")
    if len(domain) > MAX_DOMAIN_LENGTH or not all(_LABEL_RE.match(label) for label in labels):
        raise InvalidChallenge("domain", "must be a DNS name (letters, digits, '-' and '.') or an IP address")
    return domain


def domain_allowed(domain: str, patterns: Iterable[str]) -> bool:
    """Whether ``domain`` equals a pattern, or ends in ``.suffix`` for a pattern ``*.suffix`` (at any depth; the
    pattern does not match the bare suffix, list that separately)."""
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]
            if domain.endswith(suffix) and len(domain) > len(suffix):
                return True
        elif domain == pattern:
            return True
    return False


def is_valid_pattern(pattern: object) -> bool:
    """Whether an ``ACME_CHALLENGE_ALLOWED_DOMAINS`` entry is a name, an IP address or ``*.`` followed by a name."""
    if not isinstance(pattern, str):
        return False
    name = pattern.strip().lower().rstrip(".")
    if name.startswith("*."):
        name = name[2:]
    try:
        return parse_domain(name) != ""
    except InvalidChallenge:
        return False


def _required_string(data: dict[str, object], field: str) -> str:
    value = data.get(field)
    if value is None or value == "":
        raise InvalidChallenge(field, "is required")
    if not isinstance(value, str):
        raise InvalidChallenge(field, "must be a string")
    return value


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
