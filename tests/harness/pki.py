"""A CA of a test's own, made with ``cryptography``: a root, an intermediate and leaves with chosen names and dates,
shaped as an ACME CA issues them, so that the site verifies them as it verifies Pebble's (list the root in
``ACME_CHALLENGE_TRUST_ROOTS``). :meth:`TestCA.lineage` writes a certbot live directory for deploy-hook to report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The CA certificates' validity: wide enough for any leaf a test dates, expired ones included.
CA_VALIDITY = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _usage(*, ca: bool) -> x509.KeyUsage:
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


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class TestCA:
    """A root and an intermediate that signs the leaves."""

    __test__ = False  # not a pytest class

    def __init__(self, label: str) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{label} Root")])
        intermediate_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{label} Intermediate")])
        self.root = self._ca(root_name, root_name, self.root_key, self.root_key, None)
        self.intermediate = self._ca(intermediate_name, root_name, self.intermediate_key, self.root_key, 0)

    @staticmethod
    def _ca(
        subject: x509.Name,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        path_length: int | None,
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(CA_VALIDITY[0])
            .not_valid_after(CA_VALIDITY[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
            .sign(signer, hashes.SHA256())
        )

    def issue(self, names: list[str], not_before: datetime, lifetime: timedelta) -> x509.Certificate:
        """A leaf for the DNS ``names``, valid from ``not_before`` for ``lifetime``."""
        start = not_before.replace(microsecond=0)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()), critical=False
            )
            .sign(self.intermediate_key, hashes.SHA256())
        )

    def write_root(self, path: Path) -> Path:
        path.write_text(pem(self.root))
        return path

    def lineage(self, directory: Path, leaf: x509.Certificate) -> Path:
        """A certbot live directory for ``leaf`` (cert.pem, chain.pem, fullchain.pem: public files only)."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cert.pem").write_text(pem(leaf))
        (directory / "chain.pem").write_text(pem(self.intermediate))
        (directory / "fullchain.pem").write_text(pem(leaf) + pem(self.intermediate))
        return directory
