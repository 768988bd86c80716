"""A test CA of the tests' own (``cryptography``), certificates with chosen names and dates, and a real TLS server on
127.0.0.1 (Python's ssl module, an ephemeral port) that presents a chosen certificate: what the probe reads."""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = dt_timezone.utc


class TestCA:
    """A root that signs leaf certificates directly."""

    __test__ = False  # not a test class

    def __init__(self, name: str = "Dashboard Test Root") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=3650))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, names: Sequence[str], not_before: datetime, not_after: datetime
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A leaf for ``names`` (subjectAltName DNS names), valid from ``not_before`` to ``not_after``."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return certificate, key


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class TLSServer:
    """A TLS server on 127.0.0.1 that completes handshakes with the certificate it is given, then closes. The
    certificate can be swapped while it runs (:meth:`serve`), as a reloaded web server would; ``sni`` records the
    server names clients sent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.context: ssl.SSLContext | None = None
        self.sni: list[str | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def serve(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        chain, key_file = self.directory / "served.pem", self.directory / "served.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        chain.write_text(pem(certificate))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        key_file.unlink()
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[func-returns-value]
        self.context = context

    def start(self) -> TLSServer:
        self.listener.settimeout(0.2)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    assert self.context is not None
                    with self.context.wrap_socket(conn, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


@contextmanager
def tls_server(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Iterator[TLSServer]:
    with tempfile.TemporaryDirectory(prefix="acme-probe-tls-") as directory:
        server = TLSServer(Path(directory))
        server.serve(certificate, key)
        server.start()
        try:
            yield server
        finally:
            server.stop()
