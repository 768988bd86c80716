"""How the API says no: one exception that carries the answer for the client and the reason for the audit trail."""

from __future__ import annotations

from django.http import HttpResponse

TEXT = "text/plain; charset=utf-8"


class Refused(Exception):
    """Raised anywhere in an API call; the view answers ``status`` with ``message`` (one line, text/plain) and the
    audit trail records ``reason``, which may say more than the client is told (why a JWT failed, for instance)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or message
        self.headers = headers or {}
        #: A short code for the class of refusal (``no-header``, ``unknown-user``, ``method``, ...): refusals of
        #: requests that proved no key are counted per kind (audit.count_refusal), never by their free text alone.
        self.kind = kind or f"http-{status}"

    def response(self) -> HttpResponse:
        response = HttpResponse(f"{self.message}\n", status=self.status, content_type=TEXT)
        for name, value in self.headers.items():
            response[name] = value
        return response
