"""A test CA of the tests' own, made with ``cryptography``: a root, an intermediate, and leaf certificates shaped as
an ACME CA issues them (subjectAltNames, serverAuth, the key identifiers), so that the site's chain verification
(acme_challenge.trust) judges them as it judges real ones. A forger is a CA whose root and intermediate carry the
same names as another's, with keys of their own."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = timezone.utc
#: The validity of the CA certificates: wide enough for every leaf the tests make, expired ones included.
CA_START = datetime(2020, 1, 1, tzinfo=UTC)
CA_END = datetime(2100, 1, 1, tzinfo=UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])  # fmt: skip


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class TestCA:
    """A root and an intermediate; :meth:`issue` makes leaves, :meth:`fullchain` the PEM certbot would hold."""

    label: str = "Test"
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=_key)
    intermediate_key: ec.EllipticCurvePrivateKey = field(default_factory=_key)

    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        root_name, intermediate_name = _name(f"{self.label} Root X1"), _name(f"{self.label} Intermediate R1")
        self.root = self._ca_certificate(root_name, root_name, self.root_key.public_key(), self.root_key, None)
        self.intermediate = self._ca_certificate(
            intermediate_name, root_name, self.intermediate_key.public_key(), self.root_key, 0
        )

    def _ca_certificate(self, subject, issuer, public_key, signing_key, path_length) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(CA_START)
            .not_valid_after(CA_END)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
        )
        return builder.sign(signing_key, hashes.SHA256())

    def issue(
        self,
        names: list[str],
        not_before: datetime | None = None,
        days: float = 90,
        *,
        extra_san: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        """A leaf for ``names`` (DNS names, or IP addresses), valid ``days`` from ``not_before`` (default: now)."""
        start = not_before or datetime.now(UTC).replace(microsecond=0)
        key = _key()
        general: list[x509.GeneralName] = []
        for name in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                general.append(x509.DNSName(name))
        general += extra_san or []
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(general), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()), critical=False
            )
        )
        return builder.sign(self.intermediate_key, hashes.SHA256())

    def fullchain(self, leaf: x509.Certificate) -> str:
        """What certbot's fullchain.pem holds: the leaf, then the intermediate."""
        return pem(leaf) + pem(self.intermediate)

    def write_root(self, path: Path) -> Path:
        path.write_text(pem(self.root))
        return path


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()
