"""How the API says no: one exception that carries the answer for the client, a stable code for its program, and the
reason for the audit trail.

The code (:class:`Code`) goes in the ``Acme-Challenge-Refusal`` header beside the English line, so that a client
decides on the code and never on the wording. Every code is documented in server/README.md's table; a test walks
this module's enum and the README. Codes are never renamed: a new meaning gets a new code. Every 401 from the JWT
check shares one code (``jwt-refused``), as it shares one message: telling an unknown user from a wrong key would
let anyone list the site's users.
"""

from __future__ import annotations

from enum import Enum

from django.http import HttpResponse

TEXT = "text/plain; charset=utf-8"
#: The response header that carries the refusal's code.
HEADER = "Acme-Challenge-Refusal"


class Code(str, Enum):
    """The refusals the API makes, one member per thing the client must do differently (str for Python 3.10)."""

    METHOD_NOT_ALLOWED = "method-not-allowed"
    BODY_TOO_LARGE = "body-too-large"
    BODY_MALFORMED = "body-malformed"
    FIELD_INVALID = "field-invalid"
    JWT_REFUSED = "jwt-refused"
    BINDING_MISSING = "binding-missing"
    BINDING_MALFORMED = "binding-malformed"
    BINDING_MISMATCH = "binding-mismatch"
    LEGACY_NOT_ALLOWED = "legacy-not-allowed"
    PERMISSION_MISSING = "permission-missing"
    DOMAIN_REQUIRED = "domain-required"
    NAME_NOT_ALLOWED = "name-not-allowed"
    SCOPE_OUTSIDE_KEY = "scope-outside-key"
    NOT_OWNER = "not-owner"
    NO_SUCH_CHALLENGE = "no-such-challenge"
    REPORT_LEGACY_FORM = "report-legacy-form"
    CHAIN_PRIVATE_KEY = "chain-private-key"
    CHAIN_INVALID = "chain-invalid"
    CERTIFICATE_UNRECORDABLE = "certificate-unrecordable"
    CERTIFICATE_NOT_YET_VALID = "certificate-not-yet-valid"
    CHAIN_UNTRUSTED = "chain-untrusted"
    TRUST_STORE_UNREADABLE = "trust-store-unreadable"
    BATCH_TOO_LARGE = "batch-too-large"


class Refused(Exception):
    """Raised anywhere in an API call; the view answers ``status`` with ``message`` (one line, text/plain) and
    ``code`` in the :data:`HEADER` header, and the audit trail records ``reason``, which may say more than the client
    is told (why a JWT failed, for instance)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: Code,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.reason = reason or message
        self.headers = headers or {}
        #: A short class of refusal for the audit trail (``no-header``, ``unknown-user``, ``method``, ...): refusals
        #: of requests that proved no key are counted per kind (audit.count_refusal), never by their free text alone.
        #: Finer than ``code`` for 401s, which the client must not be able to tell apart.
        self.kind = kind or f"http-{status}"

    def restated(self, message: str) -> Refused:
        """The same refusal (status, code, headers, kind) with another message, which is also its reason: a batch
        answers its first refused item's refusal with a line that names them all."""
        return Refused(self.status, message, code=self.code, headers=self.headers, kind=self.kind)

    def response(self) -> HttpResponse:
        response = HttpResponse(f"{self.message}\n", status=self.status, content_type=TEXT)
        for name, value in self.headers.items():
            response[name] = value
        response[HEADER] = self.code.value
        return response
