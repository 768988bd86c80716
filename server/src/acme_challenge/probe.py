"""What the web servers really serve: the certificate each name's TLS endpoint presents, compared with the newest one
the deploy hook reported.

The most common outage of automated renewal is a certificate renewed on disk and never loaded (nginx or the load
balancer not reloaded, the file copied to the wrong host): the site's records say "ok" while every visitor gets the
old certificate. ``manage.py acme_challenge_status --probe`` connects to each name (port 443, or the address and port
``ACME_CHALLENGE_PROBE_ADDRESSES`` gives it, for a name behind a load balancer), sends the name as SNI, reads the
certificate presented without trusting it (reading needs no trust; judging it is our job) and stores one
:class:`ProbeResult` per name. Only that command probes: a request never opens a connection (the dashboard and the
metrics read the stored results, ``ACME_CHALLENGE_PROBE_MAX_AGE`` says how old they may be).

The findings, worst first, and what they count as in the command's exit status (monitoring's verdicts):

* **expired** and **name missing** count as an expired certificate (exit 2): every visitor gets an error;
* **stale** (older than the newest reported certificate: reload the TLS terminator), **unreachable** (refused, timed
  out, no TLS) and **expiring** (the served certificate is past its own late point) count as late (exit 1);
* **ok**: the newest reported certificate, or one at least as new, not late.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from cryptography import x509
from django.utils import timezone

from .conf import PROBE_ADDRESSES_SETTING, conf
from .models import COUNTS_AS, CertificateReport, Outcome, ProbeResult
from .monitoring import renewal_late

DEFAULT_PORT = 443
#: The most time one name may take, connection and handshake included (DNS resolution is the resolver's).
PROBE_TIMEOUT = 5.0
#: Names probed at once.
PROBE_CONCURRENCY = 16
#: Stored names of a served certificate, joined by spaces, are cut at this length.
MAX_SERVED_NAMES_LENGTH = 2000


# ---------------------------------------------------------------------------------------------------------------
# Reading what is served


@dataclass(frozen=True)
class Served:
    """The public facts of a presented certificate, read with ``cryptography``."""

    fingerprint: str
    serial: str
    not_before: datetime
    not_after: datetime
    issuer: str
    names: tuple[str, ...]

    @classmethod
    def from_der(cls, der: bytes) -> Served:
        certificate = x509.load_der_x509_certificate(der)
        names: list[str] = []
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            names += [name.lower() for name in san.get_values_for_type(x509.DNSName)]
            names += [str(address) for address in san.get_values_for_type(x509.IPAddress)]
        return cls(
            fingerprint=hashlib.sha256(der).hexdigest(),
            serial=format(certificate.serial_number, "x"),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            issuer=certificate.issuer.rfc4514_string()[:500],
            names=tuple(names),
        )

    def covers(self, name: str) -> bool:
        """Whether a client connecting to ``name`` accepts these names (RFC 6125: a wildcard stands for exactly one
        leftmost label; an IP address only as an IP address entry)."""
        name = name.lower().rstrip(".")
        if _ip(name) is not None:
            return any(_ip(entry) == _ip(name) for entry in self.names)
        for entry in self.names:
            if entry == name:
                return True
            if entry.startswith("*.") and "." in name and name.split(".", 1)[1] == entry[2:]:
                return True
        return False


class Unreachable(Exception):
    """No certificate could be read; the message says why, for the operator."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def target(name: str, addresses: Mapping[str, str] | None = None) -> Target:
    """Where to probe ``name``: its entry in ``ACME_CHALLENGE_PROBE_ADDRESSES`` or ``name:443``."""
    value = str((addresses or {}).get(name, "")).strip()
    if not value:
        return Target(name, DEFAULT_PORT)
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            port_text = "?"
        port_text = port_text or rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(
            f"{PROBE_ADDRESSES_SETTING}[{name!r}] is {value!r}: give host, host:port, [IPv6]:port or :port"
        )
    return Target(host or name, int(port_text) if port_text else DEFAULT_PORT)


def fetch_served(name: str, where: Target, timeout: float = PROBE_TIMEOUT) -> Served:
    """Connect to ``where``, send ``name`` as SNI, and read the certificate presented, trusting nothing: the
    handshake accepts any certificate (CERT_NONE), which is then read, not used. At most ``timeout`` seconds for the
    connection and the handshake together. Raises :class:`Unreachable`."""
    deadline = time.monotonic() + timeout
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = socket.create_connection((where.host, where.port), timeout=timeout)
    except ConnectionRefusedError:
        raise Unreachable(f"connection refused by {where}") from None
    except TimeoutError:
        raise Unreachable(f"no connection to {where} within {timeout:g} s") from None
    except socket.gaierror as error:
        raise Unreachable(f"cannot resolve {where.host}: {error.strerror}") from None
    except OSError as error:
        raise Unreachable(f"cannot connect to {where}: {error.strerror or error}") from None
    try:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        # SNI is the name; ssl sends none for an IP address, as a browser does not.
        with context.wrap_socket(sock, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    except TimeoutError:
        raise Unreachable(f"no TLS handshake with {where} within {timeout:g} s") from None
    except ssl.SSLError as error:
        raise Unreachable(f"TLS handshake with {where} failed: {error.reason or error}") from None
    except OSError as error:
        raise Unreachable(f"TLS handshake with {where} failed: {error.strerror or error}") from None
    finally:
        sock.close()
    if not der:
        raise Unreachable(f"{where} presented no certificate")
    try:
        return Served.from_der(der)
    except ValueError as error:
        raise Unreachable(f"{where} presented a certificate that cannot be parsed: {error}") from None


# ---------------------------------------------------------------------------------------------------------------
# Judging it


@dataclass(frozen=True)
class Finding:
    name: str
    address: str
    outcome: Outcome
    message: str
    served: Served | None

    @property
    def counts_as(self) -> str:
        return COUNTS_AS[self.outcome]


def judge(name: str, address: str, served: Served, newest: CertificateReport | None, now: datetime) -> Finding:
    """Compare the served certificate with ``newest``, the newest certificate reported for ``name``."""

    def finding(outcome: Outcome, message: str) -> Finding:
        return Finding(name, address, outcome, message, served)

    days_left = (served.not_after - now).total_seconds() / 86400
    expires = f"served certificate expires in {days_left:.1f} days ({_day(served.not_after)})"
    if now >= served.not_after:
        return finding(Outcome.EXPIRED, f"served certificate expired on {_day(served.not_after)}")
    if not served.covers(name):
        listed = " ".join(served.names[:5]) or "no names"
        more = f" and {len(served.names) - 5} more" if len(served.names) > 5 else ""
        return finding(Outcome.NAME_MISSING, f"name not in the served certificate (it names {listed}{more})")
    if newest is not None and served.fingerprint != newest.fingerprint and served.not_before < newest.not_before:
        return finding(
            Outcome.STALE,
            f"served certificate is older than the one renewed on {_day(newest.time)}: reload the TLS terminator; "
            f"{expires}",
        )
    if now >= renewal_late(served.not_before, served.not_after):
        return finding(Outcome.EXPIRING, f"{expires}, and no newer certificate was reported: renew it")
    if newest is None or served.fingerprint != newest.fingerprint:
        return finding(Outcome.OK, f"{expires}; not the certificate deploy-hook reported, but not older")
    return finding(Outcome.OK, f"serves the newest reported certificate; {expires}")


def probe(
    name: str, newest: CertificateReport | None, now: datetime, addresses: Mapping[str, str] | None = None
) -> Finding:
    try:
        where = target(name, addresses)
    except ValueError as error:
        return Finding(name, "", Outcome.UNREACHABLE, str(error), None)
    try:
        served = fetch_served(name, where)
    except Unreachable as error:
        return Finding(name, str(where), Outcome.UNREACHABLE, str(error), None)
    return judge(name, str(where), served, newest, now)


def probe_all(
    newest: Mapping[str, CertificateReport | None],
    now: datetime | None = None,
    *,
    addresses: Mapping[str, str] | None = None,
    probe_one: Callable[[str, CertificateReport | None, datetime, Mapping[str, str] | None], Finding] = probe,
) -> list[Finding]:
    """Probe every name of ``newest`` (name → newest reported certificate), :data:`PROBE_CONCURRENCY` at a time, and
    store the findings. Run by the status command only, never in a request."""
    now = now or timezone.now()
    if addresses is None:
        addresses = conf.probe_addresses
    names = sorted(newest)
    with ThreadPoolExecutor(max_workers=PROBE_CONCURRENCY, thread_name_prefix="acme-probe") as pool:
        findings = list(pool.map(lambda name: probe_one(name, newest[name], now, addresses), names))
    # Stored with the time it was made, even when judged at another (--now): the dashboard's age limit is real time.
    store(findings, timezone.now())
    return findings


def store(findings: Iterable[Finding], now: datetime) -> None:
    for found in findings:
        served = found.served
        ProbeResult.objects.update_or_create(
            name=found.name,
            defaults={
                "time": now,
                "address": found.address[:300],
                "outcome": found.outcome.value,
                "message": found.message[:500],
                "fingerprint": served.fingerprint if served else "",
                "serial": served.serial[:64] if served else "",
                "not_before": served.not_before if served else None,
                "not_after": served.not_after if served else None,
                "issuer": served.issuer if served else "",
                "served_names": " ".join(served.names)[:MAX_SERVED_NAMES_LENGTH] if served else "",
            },
        )


def recent_results(now: datetime | None = None) -> dict[str, ProbeResult]:
    """The stored probe results the dashboard and the metrics show: none older than ``ACME_CHALLENGE_PROBE_MAX_AGE``
    (0: none at all). One query."""
    max_age = conf.probe_max_age
    if max_age <= 0:
        return {}
    cutoff = (now or timezone.now()) - timedelta(seconds=max_age)
    return {result.name: result for result in ProbeResult.objects.filter(time__gte=cutoff)}


def _day(moment: datetime) -> str:
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%d")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
