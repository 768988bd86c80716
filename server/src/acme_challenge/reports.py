"""``POST /.well-known/certificates/``: the deploy hook reports a certificate it just installed.

Authenticated exactly as the challenge API (the same request-bound JWT, nonce, transaction and audit record, by the
same decorator), and allowed to users holding ``acme_challenge.add_certificatereport`` (``manage.py certbot_client``
grants it). Every name of the certificate must be within the site's allow-list and the key's scope, as a push must:
a key may only speak for the names it may validate. A refusal is answered 403 and recorded in the audit trail.

The body is a form (``application/x-www-form-urlencoded``) of the certificate's public facts: ``serial`` (hex),
``name`` (repeated, one per subjectAltName entry), ``not_before`` and ``not_after`` (RFC 3339), ``issuer``,
``fingerprint`` (hex SHA-256 of the DER) and optionally ``lineage`` (certbot's name for it). Reporting the same
certificate again refreshes its report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime

from . import audit, monitoring
from .authentication import authenticate
from .conf import ALLOWED_DOMAINS_SETTING, conf
from .models import AuditRecord
from .names import InvalidName, matches, parse_identifier
from .refusal import TEXT, Refused
from .views import api_call, read_body

REPORT_PERMISSION = "acme_challenge.add_certificatereport"
#: Largest report read: 100 names of 253 characters, form-encoded, and the other fields.
MAX_REPORT_BYTES = 64 * 1024
#: Most names per certificate (Let's Encrypt issues at most 100).
MAX_NAMES = 100
_HEX = re.compile(r"[0-9a-f]+\Z")
_FIELDS = ("serial", "not_before", "not_after", "issuer", "fingerprint", "lineage")


@api_call("POST", AuditRecord.Action.REPORT)
def report_certificate(request: HttpRequest, call: audit.Call) -> tuple[HttpResponse, str]:
    body = read_body(request, MAX_REPORT_BYTES, f"a report holds at most {MAX_NAMES} names")
    caller = authenticate(request, body, call, REPORT_PERMISSION)
    if not caller.permitted:
        name = caller.user.get_username()
        raise Refused(
            403,
            f"user '{name}' lacks the permission {REPORT_PERMISSION}; grant it with: manage.py certbot_client {name}",
        )
    fields, names = _parse(request)
    call.domain = names[0]

    allowed = conf.allowed_domains
    if allowed is not None:
        outside = [name for name in names if not matches(name, allowed)]
        if outside:
            call.domain = outside[0]
            raise Refused(
                403,
                f"name: '{outside[0]}' is not in {ALLOWED_DOMAINS_SETTING}; a certificate is recorded only "
                "for names the site may validate",
            )
    if caller.scope:
        outside = [name for name in names if not matches(name, list(caller.scope))]
        if outside:
            call.domain = outside[0]
            raise Refused(
                403,
                f"name: '{outside[0]}' is outside the scope of key {caller.fingerprint} ({', '.join(caller.scope)}); "
                f"widen the scope on the site: manage.py certbot_client {caller.user.get_username()} "
                "--public-key-file KEY --domain PATTERN ...",
            )

    report, created = monitoring.record_certificate(
        fingerprint=fields.fingerprint,
        serial=fields.serial,
        names=names,
        not_before=fields.not_before,
        not_after=fields.not_after,
        issuer=fields.issuer,
        lineage=fields.lineage,
        user=caller.user,
        username=caller.user.get_username()[:150],
        key_fingerprint=caller.fingerprint,
        remote_address=call.remote_address,
    )
    message = (
        f"{'recorded' if created else 'refreshed'} certificate {report.serial} for {', '.join(names)} "
        f"(not after {report.not_after.isoformat(timespec='seconds')})"
    )
    return HttpResponse(f"{message}\n", status=201 if created else 200, content_type=TEXT), audit.one_line(message, 500)


@dataclass(frozen=True)
class _Report:
    serial: str
    fingerprint: str
    issuer: str
    lineage: str
    not_before: datetime
    not_after: datetime


def _parse(request: HttpRequest) -> tuple[_Report, list[str]]:
    """The report's fields, checked, and its names in canonical form; or :class:`Refused` (400) naming the field."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise Refused(400, "body: send the report as a form (application/x-www-form-urlencoded), as deploy-hook does")
    post = request.POST
    raw: dict[str, str] = {}
    for field in _FIELDS:
        values = post.getlist(field)
        if len(values) > 1:
            raise Refused(400, f"{field}: was given more than once")
        raw[field] = values[0] if values else ""
    for field in ("serial", "not_before", "not_after", "fingerprint"):
        if not raw[field]:
            raise Refused(400, f"{field}: required")
    serial = raw["serial"].lower()
    if len(serial) > 64 or not _HEX.match(serial):
        raise Refused(400, "serial: must be the serial number in hex, at most 64 digits")
    fingerprint = raw["fingerprint"].lower()
    if len(fingerprint) != 64 or not _HEX.match(fingerprint):
        raise Refused(400, "fingerprint: must be the SHA-256 of the certificate's DER, 64 hex digits")
    dates: dict[str, datetime] = {}
    for field in ("not_before", "not_after"):
        try:
            parsed = parse_datetime(raw[field])
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise Refused(400, f"{field}: must be an RFC 3339 time with a zone, e.g. 2026-01-01T00:00:00Z")
        dates[field] = parsed
    if dates["not_after"] <= dates["not_before"]:
        raise Refused(400, "not_after: must be later than not_before")
    given = post.getlist("name")
    if not given:
        raise Refused(400, "name: required, once per name of the certificate")
    if len(given) > MAX_NAMES:
        raise Refused(400, f"name: given {len(given)} times; a certificate has at most {MAX_NAMES} names")
    names: list[str] = []
    for value in given:
        try:
            name = parse_identifier(value)
        except InvalidName as error:
            raise Refused(400, f"name: '{audit.one_line(value, 80)}' is not a name the site records: {error}") from None
        if name not in names:
            names.append(name)
    report = _Report(
        serial=serial,
        fingerprint=fingerprint,
        issuer=audit.one_line(raw["issuer"], 500),
        lineage=audit.one_line(raw["lineage"], 255),
        not_before=dates["not_before"],
        not_after=dates["not_after"],
    )
    return report, names
