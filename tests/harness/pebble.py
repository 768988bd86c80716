"""Pebble, Let's Encrypt's test CA, and pebble-challtestsrv as its DNS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .paths import CHALLTESTSRV_MGMT_PORT, DNS_PORT, HTTP01_PORT, PEBBLE_MGMT_PORT, PEBBLE_PORT
from .process import Process, ensure_port_free, wait_for


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass
class Pebble:
    """Pebble, Let's Encrypt's test CA, with pebble-challtestsrv as its DNS (every name is 127.0.0.1)."""

    workdir: Path
    http01_port: int = HTTP01_PORT
    # A second instance (say, one that sleeps before validating) runs beside the first on shifted ports.
    port_offset: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    @property
    def port(self) -> int:
        return PEBBLE_PORT + self.port_offset

    @property
    def dns_port(self) -> int:
        return DNS_PORT + 10 * self.port_offset

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def ca_bundle(self) -> Path:
        return self.workdir / "ca.pem"

    def _make_tls_certificate(self) -> None:
        """A CA of our own signs Pebble's TLS certificate; certbot trusts it through REQUESTS_CA_BUNDLE."""
        w = self.workdir
        if (w / "pebble-cert.pem").exists():
            return
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=e2e test CA",
            "-keyout",
            str(w / "ca-key.pem"),
            "-out",
            str(w / "ca.pem"),
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(w / "pebble-key.pem"),
            "-out",
            str(w / "pebble.csr"),
        )
        (w / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl(
            "x509",
            "-req",
            "-in",
            str(w / "pebble.csr"),
            "-CA",
            str(w / "ca.pem"),
            "-CAkey",
            str(w / "ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            str(w / "san.ext"),
            "-out",
            str(w / "pebble-cert.pem"),
        )

    def start(self) -> Pebble:
        self.workdir.mkdir(parents=True, exist_ok=True)
        mgmt_port, dns_mgmt_port = PEBBLE_MGMT_PORT + self.port_offset, CHALLTESTSRV_MGMT_PORT + 10 * self.port_offset
        for port, what in (
            (self.port, "Pebble"),
            (mgmt_port, "Pebble management"),
            (self.dns_port, "challtestsrv DNS"),
        ):
            ensure_port_free(port, what)
        self._make_tls_certificate()
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{mgmt_port}",
                "certificate": str(self.workdir / "pebble-cert.pem"),
                "privateKey": str(self.workdir / "pebble-key.pem"),
                "httpPort": self.http01_port,
                "tlsPort": 5001,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (self.workdir / "pebble-config.json").write_text(json.dumps(config))
        self.processes.append(
            Process(
                "pebble-challtestsrv",
                [
                    "pebble-challtestsrv",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-defaultIPv6",
                    "",
                    "-dns01",
                    f"127.0.0.1:{self.dns_port}",
                    "-management",
                    f"127.0.0.1:{dns_mgmt_port}",
                ],
                self.workdir / "challtestsrv.log",
            )
        )
        env = dict(os.environ)
        # No sleeps before validation, no random bad-nonce rejections, and no reused authorizations, so
        # that every certbot run (renewals too) goes through the hooks.
        env.update(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        env.update(self.extra_env)
        env = {k: v for k, v in env.items() if v != ""}  # an empty value unsets a default above
        pebble = Process(
            "pebble",
            ["pebble", "-config", str(self.workdir / "pebble-config.json"), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            self.workdir / "pebble.log",
            env=env,
        )
        self.processes.append(pebble)
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        wait_for(
            "Pebble",
            lambda: urllib.request.urlopen(self.directory, context=context, timeout=1).status == 200,
            proc=pebble,
        )
        return self

    def validations(self, identifier: str) -> int:
        """How many validations of `identifier` the CA started: its VA logs one "Pulled a task" line per challenge it
        validates, before any request to the site. The CA's own record, never anything a hook or certbot says."""
        log = (self.workdir / "pebble.log").read_text(errors="replace")
        return sum(1 for line in log.splitlines() if "Pulled a task" in line and f'Value:"{identifier}"' in line)

    def root_pem(self) -> str:
        """The root certificate this Pebble made when it started (a new one at every start), from its management
        interface's ``/roots/0``: what a site must trust to verify the certificates it issues."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{PEBBLE_MGMT_PORT + self.port_offset}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            text: str = response.read().decode()
            return text

    def write_root(self, path: Path) -> Path:
        """:meth:`root_pem` written to ``path``, e.g. for a site's ``ACME_CHALLENGE_TRUST_ROOTS``."""
        path.write_text(self.root_pem())
        return path

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
