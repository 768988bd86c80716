"""nginx as a load balancer in front of several site nodes, or as a plain static server."""

from __future__ import annotations

import hashlib
import signal
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .paths import HTTP01_PORT
from .process import Process, ensure_port_free, port_open, wait_for


@dataclass
class Nginx:
    """nginx from Debian as a round-robin load balancer in front of the example site's nodes."""

    workdir: Path
    backends: Sequence[int]
    port: int = HTTP01_PORT
    # With a webroot and no backends, nginx serves files: the static server certbot --webroot relies on.
    webroot: Path | None = None
    # False: like many PaaS routers, never replay an API request on another node; the hooks must retry.
    api_failover: bool = True
    # A location block of its own instead of the balancer or the static server (the benchmark's do-nothing API).
    location: str | None = None
    # A TLS server on this port presenting this certificate chain and key, whatever the SNI (the probe's stories):
    # nginx reads the files when it starts and when it reloads, never in between.
    tls_port: int | None = None
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_log(self) -> Path:
        """With ``api_failover=False``: one line per challenge API request, ``METHOD URI STATUS``."""
        return self.workdir / "api-access.log"

    def api_requests(self) -> list[tuple[str, str, int]]:
        """The challenge API requests nginx answered so far (``api_failover=False`` only), oldest first."""
        if not self.api_log.exists():
            return []
        lines = self.api_log.read_text().splitlines()
        return [(method, uri, int(status)) for method, uri, status in (line.split(" ") for line in lines)]

    def start(self) -> Nginx:
        ensure_port_free(self.port, "nginx")
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in self.backends)
        upstream = f"upstream django_nodes {{\n{servers}\n    }}" if self.backends else ""
        proxy = "proxy_pass http://django_nodes; proxy_set_header Host $host; proxy_connect_timeout 2s;"
        location = self.location or f"location / {{ {f'root {self.webroot};' if self.webroot else proxy} }}"
        if not self.api_failover and self.location is None:
            # Logged, so a test counts the API answers (a 502 for a dead node) instead of reading the hooks' words.
            location += (
                f"\n        location /.well-known/challenges/ {{ {proxy} proxy_next_upstream off; "
                f"access_log {self.api_log} api; }}"
            )
            upstream = "log_format api '$request_method $uri $status';\n    " + upstream
        tls = ""
        if self.tls_port is not None:
            tls = (
                f"server {{ listen 127.0.0.1:{self.tls_port} ssl; ssl_certificate {self.tls_certificate}; "
                f"ssl_certificate_key {self.tls_key}; location / {{ return 204; }} }}"
            )
        (w / "nginx.conf").write_text(
            config(
                w,
                f"""
    {upstream}
    server {{
        listen 127.0.0.1:{self.port};
        {location}
    }}
    {tls}""",
            )
        )
        self.process = process("nginx", w)
        wait_for("nginx", lambda: port_open(self.port), proc=self.process)
        if self.tls_port is not None:
            wait_for("nginx's TLS port", lambda: port_open(self.tls_port or 0), proc=self.process)
        return self

    def reload(self) -> None:
        """Reload the configuration and the certificate files (SIGHUP), as ``systemctl reload nginx`` does, and wait
        until the TLS port presents the certificate now in ``tls_certificate``."""
        assert self.process is not None and self.tls_port is not None and self.tls_certificate is not None
        wanted = _fingerprint(self.tls_certificate.read_bytes())
        self.process.proc.send_signal(signal.SIGHUP)
        wait_for("nginx to present the reloaded certificate", lambda: self.presented() == wanted, proc=self.process)

    def presented(self) -> str | None:
        """SHA-256 (hex) of the certificate the TLS port presents, read with Python's ssl (trusting nothing)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection(("127.0.0.1", self.tls_port or 0), timeout=2) as sock,
                context.wrap_socket(sock) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except OSError:
            return None
        return hashlib.sha256(der).hexdigest() if der else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGQUIT)
            self.process = None


def _fingerprint(pem: bytes) -> str:
    """SHA-256 (hex) of the first certificate of a PEM chain."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def config(workdir: Path, http: str) -> str:
    """An nginx.conf that runs as a test's own nginx: one worker, pid, logs and temporary files under ``workdir``, no
    access log unless a server asks for one; ``http`` is the rest of the http block (upstreams, servers)."""
    w = workdir
    return f"""
worker_processes 1;
user root root;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
{http}
}}
"""


def process(name: str, workdir: Path) -> Process:
    """nginx in the foreground on ``workdir``'s nginx.conf (see :func:`config`)."""
    return Process(
        name,
        ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-g", "daemon off;"],
        workdir / "nginx.log",
    )
