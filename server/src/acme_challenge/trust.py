"""The roots a reported certificate must chain to, and the check that it does (``cryptography.x509.verification``).

Trust anchors are the system's (the bundle ``ssl.get_default_verify_paths()`` names, as Debian's ca-certificates
installs it; certifi is not a dependency) plus the PEM files ``ACME_CHALLENGE_TRUST_ROOTS`` lists, for a private CA
such as Pebble, which makes a new root at every start. The files are read once and read again when one changes
(its size or modification time), so a site need not restart when a private root is replaced.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from .conf import TRUST_ROOTS_SETTING, conf


class TrustStoreError(Exception):
    """The site cannot build its trust store: ``str()`` names the file and the fix, for the operator."""


class NotTrusted(Exception):
    """The chain does not verify: ``str()`` says why, for the client."""


@dataclass(frozen=True)
class Verified:
    #: The time the chain was verified at (see :func:`verify`).
    at: datetime
    #: The subject of the trust anchor it chains to, RFC 4514.
    anchor: str


def system_bundle() -> str | None:
    """The system's CA bundle file, or None if it has none."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


_lock = threading.Lock()
_cached: tuple[tuple[tuple[str, int, int], ...], Store, int] | None = None


def store() -> tuple[Store, int]:
    """The trust store and how many roots it holds; raises :class:`TrustStoreError`."""
    global _cached
    files: list[str] = []
    bundle = system_bundle()
    if bundle:
        files.append(bundle)
    files.extend(conf.trust_roots)
    key = []
    for path in files:
        try:
            stat = os.stat(path)
        except OSError as error:
            raise TrustStoreError(f"{TRUST_ROOTS_SETTING}: cannot read {path}: {error.strerror}") from None
        key.append((path, stat.st_mtime_ns, stat.st_size))
    frozen = tuple(key)
    with _lock:
        if _cached is not None and _cached[0] == frozen:
            return _cached[1], _cached[2]
    roots: list[x509.Certificate] = []
    for path in files:
        found = load_certificates(path)
        if not found and path != bundle:
            raise TrustStoreError(f"{TRUST_ROOTS_SETTING}: {path} holds no PEM certificate")
        roots.extend(found)
    if not roots:
        raise TrustStoreError(
            f"no trust anchors: the system has no CA bundle and {TRUST_ROOTS_SETTING} lists no file; install "
            "ca-certificates, or list your CA's root in that setting"
        )
    built = Store(roots)
    with _lock:
        _cached = (frozen, built, len(roots))
    return built, len(roots)


def load_certificates(path: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file; blocks that do not parse are skipped (a system bundle may hold a root that
    ``cryptography`` refuses, and it must not cost every other root). Raises :class:`TrustStoreError`."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise TrustStoreError(f"{TRUST_ROOTS_SETTING}: cannot read {path}: {error.strerror}") from None
    # Debian's bundle holds a root with a serial number of 0, which cryptography warns about on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            pass
        found = []
        end = b"-----END CERTIFICATE-----"
        for block in data.split(end)[:-1]:
            try:
                found.append(x509.load_pem_x509_certificate(block + end))
            except ValueError:
                continue
        return found


def verify(leaf: x509.Certificate, intermediates: list[x509.Certificate], name: str, now: datetime) -> Verified:
    """Verify that ``leaf`` chains through ``intermediates`` to a trust anchor, as a TLS server certificate for
    ``name`` (one of its own subjectAltNames, so the name check always holds and only the chain and its policy are
    judged: the server verifier, because the leaf is a server certificate, and the client verifier would demand the
    clientAuth usage that Let's Encrypt no longer includes).

    The time: ``now`` plus the clock-skew tolerance, so a certificate whose notBefore is ahead of the site's clock
    by no more than that verifies; for a certificate that has expired, its notAfter instead, so that a real, expired
    certificate verifies as of its last valid moment, and is recorded with its dates (its verdict is "expired").
    Raises :class:`NotTrusted` or :class:`TrustStoreError`."""
    tolerance = timedelta(seconds=conf.timestamp_tolerance)
    at = min(now + tolerance, leaf.not_valid_after_utc)
    trust, _ = store()
    subject: DNSName | IPAddress
    try:
        subject = IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = DNSName(name)
    verifier = PolicyBuilder().store(trust).time(at).build_server_verifier(subject)
    try:
        chain = verifier.verify(leaf, intermediates)
    except VerificationError as error:
        raise NotTrusted(" ".join(str(error).split())[:300]) from None
    return Verified(at=at, anchor=chain[-1].subject.rfc4514_string())
