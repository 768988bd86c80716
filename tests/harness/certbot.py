"""certbot from PyPI, with its own config, work and logs directories, against Pebble."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import AUTH_HOOK, CLEANUP_HOOK, PYTHON
from .pebble import Pebble

# The ways users, scripts and schedulers start certbot, which decide what it does with signals (issue 20).
LAUNCHES = {
    "foreground": "as a terminal or a service manager starts it",
    "background-job": "`certbot ... & wait $!` in a script: such a job ignores SIGINT and SIGQUIT",
    "setsid": "in a session of its own, as some schedulers start it",
    "sigint-ignored": "with SIGINT ignored (`trap '' INT`), as a wrapper may leave it",
    "sigint-and-sigterm-ignored": "with SIGINT, SIGTERM, SIGHUP and SIGQUIT ignored (`trap '' INT TERM HUP QUIT`)",
    "stop-signals-blocked": "with SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked, which nothing can stop",
}

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def launch_args(launch: str, args: Sequence[str]) -> list[str]:
    """`args` started the way `launch` (a key of LAUNCHES) says; the exit status is the program's."""
    args = list(args)
    if launch == "foreground":
        return args
    if launch == "background-job":
        return ["bash", "-c", '"$@" & wait $!', "bash", *args]
    if launch == "setsid":
        return ["setsid", "--wait", *args]
    if launch == "sigint-ignored":
        return ["bash", "-c", "trap '' INT; exec \"$@\"", "bash", *args]
    if launch == "sigint-and-sigterm-ignored":
        return ["bash", "-c", "trap '' INT TERM HUP QUIT; exec \"$@\"", "bash", *args]
    if launch == "stop-signals-blocked":
        block = (
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, "
            f"{[int(s) for s in STOP_SIGNALS]}); os.execvp(sys.argv[1], sys.argv[1:])"
        )
        return [str(PYTHON), "-c", block, *args]
    raise ValueError(f"unknown launch {launch!r}: one of {', '.join(LAUNCHES)}")


def launch_dispositions(launch: str) -> dict[str, set[str]]:
    """What a Python program started the way `launch` says inherits: the names of the stop signals in its SigIgn and
    SigBlk masks (/proc/self/status), so that a story can check that it starts certbot the way it says."""
    probe = "print(open('/proc/self/status').read())"
    status = subprocess.run(
        launch_args(launch, [str(PYTHON), "-c", probe]), check=True, capture_output=True, text=True
    ).stdout
    keys = ("SigIgn", "SigBlk")
    masks = {k: int(v, 16) for k, _, v in (line.partition(":\t") for line in status.splitlines()) if k in keys}
    return {key: {s.name for s in STOP_SIGNALS if masks[key] >> (int(s) - 1) & 1} for key in keys}


@dataclass
class Certbot:
    """certbot from PyPI with its own config, work and logs directories (`program`: another certbot release), started
    the way `launch` says (see LAUNCHES)."""

    workdir: Path
    pebble: Pebble
    program: Path = PYTHON.parent / "certbot"
    launch: str = "foreground"

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
        args = launch_args(self.launch, args)
        return subprocess.Popen(args, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, args: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        args = launch_args(self.launch, args)
        return subprocess.run(args, check=False, env=self.env(), capture_output=True, text=True, timeout=timeout)

    def running_pids(self) -> list[int]:
        """The processes still running with this certbot's config directory on their command line: certbot itself,
        its hooks' shells, whatever it left behind."""
        marker = str(self.config_dir).encode()
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if marker in cmdline.read_bytes():
                    pids.append(int(cmdline.parent.name))
            except OSError:
                continue
        return pids

    def certonly(
        self, domains: Sequence[str], hook_args: Sequence[str], cert_name: str | None = None
    ) -> subprocess.CompletedProcess[str]:
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
