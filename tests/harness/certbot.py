"""certbot from PyPI, with its own config, work and logs directories, against Pebble."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import AUTH_HOOK, CLEANUP_HOOK, PYTHON
from .pebble import Pebble


@dataclass
class Certbot:
    """certbot from PyPI with its own config, work and logs directories (`program`: another certbot release)."""

    workdir: Path
    pebble: Pebble
    program: Path = PYTHON.parent / "certbot"

    @property
    def config_dir(self) -> Path:
        return self.workdir / "config"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBOT_")}
        env["REQUESTS_CA_BUNDLE"] = str(self.pebble.ca_bundle)
        return env

    def base_args(self) -> list[str]:
        return [
            str(self.program),
            "--non-interactive",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--server",
            self.pebble.directory,
            "--config-dir",
            str(self.config_dir),
            "--work-dir",
            str(self.workdir / "work"),
            "--logs-dir",
            str(self.workdir / "logs"),
        ]

    def hook_line(self, binary: Path, hook_args: Sequence[str]) -> str:
        return " ".join([str(binary), *hook_args])

    def certonly_args(
        self, domains: Sequence[str], hook_args: Sequence[str], cert_name: str | None = None
    ) -> list[str]:
        args = self.base_args() + [
            "certonly",
            "--manual",
            "--preferred-challenges",
            "http",
            "--manual-auth-hook",
            self.hook_line(AUTH_HOOK, hook_args),
            "--manual-cleanup-hook",
            self.hook_line(CLEANUP_HOOK, hook_args),
        ]
        if cert_name:
            args += ["--cert-name", cert_name]
        for d in domains:
            args += ["-d", d]
        return args

    def start(self, args: Sequence[str]) -> subprocess.Popen[str]:
        """certbot in the background, for stories that act while it runs."""
        return subprocess.Popen(list(args), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, args: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), check=False, env=self.env(), capture_output=True, text=True, timeout=timeout)

    def certonly(self, domains: Sequence[str], hook_args: Sequence[str], cert_name: str | None = None):
        return self.run(self.certonly_args(domains, hook_args, cert_name))

    def renew(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.base_args() + ["renew", "--no-random-sleep-on-renew", *extra])

    def live_cert(self, name: str) -> Path:
        return self.config_dir / "live" / name / "fullchain.pem"

    def log(self) -> str:
        path = self.workdir / "logs" / "letsencrypt.log"
        return path.read_text(errors="replace") if path.exists() else ""


def cert_info(path: Path) -> dict[str, str]:
    """Subject names, serial and expiry of a certificate, from openssl."""
    out = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-serial", "-enddate", "-ext", "subjectAltName"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("serial="):
            info["serial"] = line.split("=", 1)[1]
        elif line.startswith("notAfter="):
            info["not_after"] = line.split("=", 1)[1]
        elif line.startswith("DNS:"):
            info["names"] = ",".join(part.strip().removeprefix("DNS:") for part in line.split(","))
    return info
