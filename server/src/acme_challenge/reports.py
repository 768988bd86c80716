"""``POST /.well-known/certificates/``: the deploy hook reports a certificate it just installed, by sending it.

A report is the certificate, not claims about it. The body is JSON, at most 64 KiB::

    {"chain": "<PEM: the leaf certificate first, then its intermediates, as certbot's fullchain.pem>",
     "lineage": "<certbot's lineage name; optional, may be empty>"}

The site reads the serial, the subjectAltNames (DNS names and IP addresses), the validity, the issuer and the
SHA-256 fingerprint from the leaf itself, and verifies the chain to a trust anchor (trust.py: the system's roots and
``ACME_CHALLENGE_TRUST_ROOTS``). It refuses a chain that does not verify (a certificate signed by another key under
the same issuer name included), a certificate not yet valid beyond the clock-skew tolerance, and one that names
anything outside the site's allow-list or the key's scope. A certificate that has expired but chains is recorded:
that it expired is a fact the operator must see.

Authenticated exactly as the challenge API (the same request-bound JWT, nonce, transaction and audit record, by the
same decorator), never with a legacy (unbound) token, and allowed to users holding
``acme_challenge.add_certificatereport`` (``manage.py certbot_client`` grants it). The form-encoded facts older
deploy hooks sent are refused (400) with a message that says to upgrade.

Each user's report is a row of its own (models.CertificateReport), so a report never changes another user's
record, and the answer (201 the first time this user reports this certificate, 200 after) says nothing about
other users' reports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.http import HttpRequest, HttpResponse
from django.utils import timezone as dj_timezone

from . import audit, monitoring, trust
from .api import api_call, json_object, read_body
from .authentication import authenticate
from .conf import ALLOWED_DOMAINS_SETTING, TRUST_ROOTS_SETTING, conf
from .models import AuditRecord
from .names import InvalidName, matches, parse_identifier
from .refusal import TEXT, Code, Refused

REPORT_PERMISSION = "acme_challenge.add_certificatereport"
#: Largest report read: a full chain of a certificate with 100 names is under 16 KiB.
MAX_REPORT_BYTES = 64 * 1024
#: Most names per certificate (Let's Encrypt issues at most 100).
MAX_NAMES = 100
#: Most certificates in a chain: the leaf and its intermediates (Let's Encrypt sends one or two).
MAX_CHAIN = 8
#: The dates the site records: a certificate valid outside them is refused (400) rather than stored wrong or not at
#: all (Python's datetime ends at year 9999, and a time near it has no room for a time zone's offset).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)
#: The fields of the form older deploy hooks sent.
OLD_FIELDS = ("serial", "name", "not_before", "not_after", "issuer", "fingerprint")
UPGRADE = (
    'body: a certificate report is now the certificate itself, JSON {"chain": <fullchain.pem>, "lineage": '
    "<name>}; this client sent the old form of its facts, which the site no longer takes: upgrade deploy-hook"
)


@api_call("POST", AuditRecord.Action.REPORT)
def report_certificate(request: HttpRequest, call: audit.Call) -> tuple[HttpResponse, str]:
    body = read_body(request, MAX_REPORT_BYTES, "a report is one certificate chain (fullchain.pem) as JSON")
    caller = authenticate(request, body, call, REPORT_PERMISSION)
    if not caller.permitted:
        name = caller.user.get_username()
        raise Refused(
            403,
            f"user '{name}' lacks the permission {REPORT_PERMISSION}; grant it with: manage.py certbot_client {name}",
            code=Code.PERMISSION_MISSING,
        )
    chain_text, lineage = _parse_body(request, body)
    leaf, intermediates = _parse_chain(chain_text)
    facts = _facts(leaf)
    call.domain = facts.names[0]
    _check_scope(call, facts.names, caller.scope, caller.fingerprint, caller.user.get_username())

    now = dj_timezone.now()
    tolerance = conf.timestamp_tolerance
    if (facts.not_before - now).total_seconds() > tolerance:
        raise Refused(
            400,
            f"chain: the certificate is not valid until {_iso(facts.not_before)}, and the site's clock says "
            f"{_iso(now)} (tolerance {tolerance} s); report it once it is valid, or fix the clock that is wrong",
            code=Code.CERTIFICATE_NOT_YET_VALID,
        )
    try:
        verified = trust.verify(leaf, intermediates, facts.names[0], now)
    except trust.TrustStoreError as error:
        raise Refused(
            503,
            f"the site cannot verify certificates now: its trust roots are unreadable; its operator must fix "
            f"{TRUST_ROOTS_SETTING} (manage.py check names the file)",
            code=Code.TRUST_STORE_UNREADABLE,
            reason=f"trust store: {error}",
        ) from None
    except trust.NotTrusted as error:
        raise Refused(
            403,
            f"chain: the certificate does not chain to a root this site trusts ({error}); send certbot's "
            f"fullchain.pem, leaf first; for a private CA, the site lists its root in {TRUST_ROOTS_SETTING}",
            code=Code.CHAIN_UNTRUSTED,
        ) from None

    report, created = monitoring.record_certificate(
        fingerprint=facts.fingerprint,
        serial=facts.serial,
        names=facts.names,
        not_before=facts.not_before,
        not_after=facts.not_after,
        issuer=facts.issuer,
        lineage=lineage,
        user=caller.user,
        username=caller.user.get_username()[:150],
        key_fingerprint=caller.fingerprint,
        remote_address=call.remote_address,
        verified=True,
        anchor=audit.one_line(verified.anchor, 500),
        leaf=leaf.public_bytes(serialization.Encoding.PEM).decode(),
        now=now,
    )
    state = f"expired {_iso(report.not_after)}" if report.not_after <= now else f"not after {_iso(report.not_after)}"
    message = (
        f"{'recorded' if created else 'refreshed'} certificate {report.serial} for {', '.join(facts.names)} "
        f"({state}; chains to {audit.one_line(verified.anchor, 200)})"
    )
    return HttpResponse(f"{message}\n", status=201 if created else 200, content_type=TEXT), audit.one_line(message, 500)


@dataclass(frozen=True)
class Facts:
    """What the site reads from a leaf certificate."""

    serial: str
    fingerprint: str
    issuer: str
    names: list[str]
    not_before: datetime
    not_after: datetime


def _parse_body(request: HttpRequest, body: bytes) -> tuple[str, str]:
    """The chain's PEM text and the lineage name; or :class:`Refused` (400)."""
    if request.content_type == "application/x-www-form-urlencoded":
        raise Refused(400, UPGRADE, code=Code.REPORT_LEGACY_FORM)
    if request.content_type != "application/json":
        raise Refused(
            400,
            'body: send the report as JSON (Content-Type: application/json), {"chain": <fullchain.pem>, '
            '"lineage": <name>}, as deploy-hook does',
            code=Code.BODY_MALFORMED,
        )
    data = json_object(body, "one flat object with 'chain' and 'lineage'")
    chain = data.get("chain")
    if chain is None or chain == "":
        if any(field in data for field in OLD_FIELDS):
            raise Refused(400, UPGRADE, code=Code.REPORT_LEGACY_FORM)
        raise Refused(
            400,
            "chain: required: the certificate and its intermediates, PEM, as certbot's fullchain.pem",
            code=Code.FIELD_INVALID,
        )
    if not isinstance(chain, str):
        raise Refused(400, "chain: must be a string of PEM text", code=Code.FIELD_INVALID)
    lineage = data.get("lineage")
    if lineage is None:
        lineage = ""
    if not isinstance(lineage, str) or len(lineage) > 255:
        raise Refused(
            400,
            "lineage: must be a string of at most 255 characters (certbot's name for the certificate)",
            code=Code.FIELD_INVALID,
        )
    return chain, audit.one_line(lineage, 255)


def _parse_chain(text: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
    if "PRIVATE KEY" in text:
        # Never quoted, logged or stored: the audit record says only this.
        raise Refused(
            400,
            "chain: holds a private key; send fullchain.pem (public), never privkey.pem, and replace that key",
            code=Code.CHAIN_PRIVATE_KEY,
        )
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise Refused(
            400,
            "chain: is not PEM certificates; send certbot's fullchain.pem (the certificate, then its chain)",
            code=Code.CHAIN_INVALID,
        ) from None
    if len(certificates) > MAX_CHAIN:
        raise Refused(
            400,
            f"chain: holds {len(certificates)} certificates; a chain has at most {MAX_CHAIN}",
            code=Code.CHAIN_INVALID,
        )
    return certificates[0], certificates[1:]


def _facts(leaf: x509.Certificate) -> Facts:
    """The leaf's facts, its names canonical; or :class:`Refused` (400) naming what the site cannot record."""
    try:
        extension = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise Refused(
            400,
            "chain: the first certificate has no subjectAltName; send the leaf certificate first",
            code=Code.CHAIN_INVALID,
        ) from None
    except ValueError as error:
        raise Refused(
            400, f"chain: the first certificate's extensions do not parse ({error})", code=Code.CHAIN_INVALID
        ) from None
    names: list[str] = []
    for entry in extension.value:
        if isinstance(entry, x509.DNSName):
            value = entry.value
        elif isinstance(entry, x509.IPAddress) and isinstance(
            entry.value, (ipaddress.IPv4Address, ipaddress.IPv6Address)
        ):
            value = str(entry.value)
        else:
            raise Refused(
                400,
                f"chain: the certificate names a {type(entry).__name__}; the site records DNS names and IP "
                "addresses only",
                code=Code.CERTIFICATE_UNRECORDABLE,
            )
        try:
            name = parse_identifier(value)
        except InvalidName as error:
            raise Refused(
                400,
                f"chain: names '{audit.one_line(value, 80)}', which the site does not record: {error}",
                code=Code.CERTIFICATE_UNRECORDABLE,
            ) from None
        if name not in names:
            names.append(name)
    if not names:
        raise Refused(
            400, "chain: the first certificate names nothing; send the leaf certificate first", code=Code.CHAIN_INVALID
        )
    if len(names) > MAX_NAMES:
        raise Refused(
            400,
            f"chain: the certificate has {len(names)} names; the site records at most {MAX_NAMES}",
            code=Code.CERTIFICATE_UNRECORDABLE,
        )
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not (EARLIEST <= not_before < not_after <= LATEST):
        raise Refused(
            400,
            f"chain: the certificate is valid from {_iso(not_before)} to {_iso(not_after)}; the site records "
            f"certificates valid within {_iso(EARLIEST)} to {_iso(LATEST)}",
            code=Code.CERTIFICATE_UNRECORDABLE,
        )
    serial = format(leaf.serial_number, "x") if leaf.serial_number >= 0 else ""
    if not serial or len(serial) > 64:
        raise Refused(
            400,
            "chain: the certificate's serial number is negative or longer than 32 bytes",
            code=Code.CERTIFICATE_UNRECORDABLE,
        )
    return Facts(
        serial=serial,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        issuer=audit.one_line(leaf.issuer.rfc4514_string(), 500),
        names=names,
        not_before=not_before,
        not_after=not_after,
    )


def _check_scope(call: audit.Call, names: list[str], scope: tuple[str, ...], key: str, username: str) -> None:
    """Every name within the allow-list and the key's scope, as a push must be: a key speaks only for the names it
    may validate."""
    allowed = conf.allowed_domains
    if allowed is not None:
        outside = [name for name in names if not matches(name, allowed)]
        if outside:
            call.domain = outside[0]
            raise Refused(
                403,
                f"name: '{outside[0]}' is not in {ALLOWED_DOMAINS_SETTING}; a certificate is recorded only "
                "for names the site may validate",
                code=Code.NAME_NOT_ALLOWED,
            )
    if scope:
        outside = [name for name in names if not matches(name, list(scope))]
        if outside:
            call.domain = outside[0]
            raise Refused(
                403,
                f"name: '{outside[0]}' is outside the scope of key {key} ({', '.join(scope)}); "
                f"widen the scope on the site: manage.py certbot_client {username} "
                "--public-key-file KEY --domain PATTERN ...",
                code=Code.SCOPE_OUTSIDE_KEY,
            )


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
