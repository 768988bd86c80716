"""What a well-formed challenge push is, and which domains may be pushed.

Kept apart from the views so that the rules, and the messages a client sees, read in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .conf import LEGACY_CLIENTS_SETTING
from .models import MAX_VALUE_LENGTH
from .names import InvalidName, parse_identifier

TOKEN_PATTERN = r"[A-Za-z0-9_-]+"
_TOKEN_RE = re.compile(rf"{TOKEN_PATTERN}\Z")
_VALIDATION_RE = re.compile(rf"{TOKEN_PATTERN}\.{TOKEN_PATTERN}\Z")


class InvalidChallenge(ValueError):
    """A pushed field is missing or malformed. ``str()`` is the message for the client and starts with the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class ChallengeInput:
    token: str
    validation: str
    #: Canonical (names.parse_identifier); empty if a legacy client sent none.
    domain: str


def parse_challenge(data: dict[str, object], *, domain_required: bool = True) -> ChallengeInput:
    """Validate the ``challenge``, ``response`` and ``domain`` fields (the certbot-django protocol, plus ``domain``,
    which only legacy clients may leave out)."""
    token = parse_token(data)
    validation = _required_string(data, "response")
    if len(validation.encode()) > MAX_VALUE_LENGTH or not _VALIDATION_RE.match(validation):
        raise InvalidChallenge(
            "response",
            f"must be the key authorization '<token>.<base64url thumbprint>', at most {MAX_VALUE_LENGTH} characters",
        )
    if not validation.startswith(token + "."):
        raise InvalidChallenge("response", "must start with the token given as 'challenge', followed by '.'")
    domain = parse_domain(data.get("domain"))
    if not domain and domain_required:
        raise InvalidChallenge(
            "domain",
            "is required: the name being validated. The original certbot-django plugin does not send it; a site "
            f"that must serve it names the plugin's users in {LEGACY_CLIENTS_SETTING}",
        )
    return ChallengeInput(token=token, validation=validation, domain=domain)


def parse_token(data: dict[str, object]) -> str:
    token = _required_string(data, "challenge")
    if len(token.encode()) > MAX_VALUE_LENGTH or not _TOKEN_RE.match(token):
        raise InvalidChallenge(
            "challenge", f"must be the ACME token: 1 to {MAX_VALUE_LENGTH} characters from A-Z a-z 0-9 _ -"
        )
    return token


def is_token(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_VALUE_LENGTH and bool(_TOKEN_RE.match(value))


def parse_domain(value: object) -> str:
    """The canonical identifier (names.parse_identifier, the hooks' rule), or ``""`` if none was given."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidChallenge("domain", "must be a string")
    try:
        return parse_identifier(value)
    except InvalidName as error:
        raise InvalidChallenge("domain", f"{echo(value)} is invalid: {error}") from None


def echo(value: str) -> str:
    """A hostile value quoted for a message, as the hooks quote it: escaped, and shortened to 64 characters."""
    shown = repr(value[:64])
    if len(value) > 64:
        shown += f" (and {len(value) - 64} more characters)"
    return shown


def _required_string(data: dict[str, object], field: str) -> str:
    value = data.get(field)
    if value is None or value == "":
        raise InvalidChallenge(field, "is required")
    if not isinstance(value, str):
        raise InvalidChallenge(field, "must be a string")
    return value
