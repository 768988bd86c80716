"""Start and stop the real parts of the chain: Pebble and its DNS, the example site, and certbot.

The end-to-end tests, the demo and the benchmarks all drive the same processes through this module,
so what the demo shows is what the tests check. Every process is started in its own process group and
stopped by the context manager that started it, even when the caller fails midway.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_DIR = ROOT / "examples" / "django_site"
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python" if (VENV / "bin" / "python").exists() else Path(sys.executable)
AUTH_HOOK = ROOT / "target" / "release" / "auth-hook"
CLEANUP_HOOK = ROOT / "target" / "release" / "cleanup-hook"

# Pebble validates HTTP-01 on this port, so the example site listens here.
HTTP01_PORT = 5002
PEBBLE_PORT = 14000
PEBBLE_MGMT_PORT = 15000
DNS_PORT = 8053
CHALLTESTSRV_MGMT_PORT = 8055


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 30.0, proc: subprocess.Popen | Process | None = None) -> None:
    """Poll `check()` until it returns truthy; fail with `what` if it never does or `proc` dies.

    For a `Process`, the failure quotes the end of its log, which is where the reason is.
    """
    popen = proc.proc if isinstance(proc, Process) else proc

    def failure(problem: str) -> RuntimeError:
        log = f"\nlast lines of {proc.log}:\n{proc.tail()}" if isinstance(proc, Process) else ""
        return RuntimeError(f"{what}: {problem}{log}")

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            raise failure(f"process exited with status {popen.returncode}")
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.1)
    raise failure(f"not ready after {timeout:.0f} s (last error: {last})")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def ensure_port_free(port: int, what: str) -> None:
    if port_open(port):
        raise RuntimeError(f"{what}: port {port} is already in use on 127.0.0.1; stop whatever listens there")


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, name: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ):
        self.name = name
        self.log = log
        self._log_fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(args),
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_fh.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


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

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()


_sqlite_template: Path | None = None


def _migrated_sqlite_template() -> Path:
    """A migrated, empty SQLite database of the example site, made once per process."""
    global _sqlite_template
    if _sqlite_template is None:
        directory = Path(tempfile.mkdtemp(prefix="acme-site-template-"))
        atexit.register(shutil.rmtree, directory, True)
        template = directory / "site.sqlite3"
        Site(directory, database_url=f"sqlite:///{template}").manage("migrate", "--noinput")
        # Leave no write-ahead log behind: the copy must hold everything.
        sqlite3.connect(template).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        _sqlite_template = template
    return _sqlite_template


@dataclass
class Site:
    """The example Django site served by gunicorn, on its own database."""

    workdir: Path
    port: int = HTTP01_PORT
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_ALLOWED_HOSTS="*",
            DATABASE_URL=self.database_url or f"sqlite:///{self.workdir / 'site.sqlite3'}",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [str(PYTHON), "manage.py", *args],
            check=False,
            cwd=SITE_DIR,
            env=self.env(),
            capture_output=True,
            text=True,
            input=input,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def start(self) -> Site:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ensure_port_free(self.port, "example site")
        sqlite_file = self.workdir / "site.sqlite3"
        if self.database_url is None and not sqlite_file.exists():
            # A fresh SQLite site starts from a copy of one migrated database: migrating costs ~2 s a site.
            shutil.copyfile(_migrated_sqlite_template(), sqlite_file)
        else:
            self.manage("migrate", "--noinput")
        gunicorn = PYTHON.parent / "gunicorn"
        self.process = Process(
            f"site:{self.port}",
            [
                str(gunicorn),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                "4",
                "--graceful-timeout",
                "2",
                "django_site.wsgi",
            ],
            self.workdir / f"site-{self.port}.log",
            env=self.env(),
            cwd=SITE_DIR,
        )
        wait_for(
            f"example site on port {self.port}",
            lambda: urllib.request.urlopen(f"{self.url}/healthz", timeout=1).status == 200,
            proc=self.process,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def register_key(self, username: str, public_key_file: Path) -> str:
        return self.manage("certbot_client", username, "--public-key-file", str(public_key_file))

    def challenge_rows(self) -> list[tuple[str, str]]:
        """(domain, token) of every stored challenge, read straight from the database through Django."""
        out = self.manage(
            "shell",
            "-c",
            "import json; from acme_challenge.models import Challenge; "
            "print(json.dumps(list(Challenge.objects.values_list('domain', 'token'))))",
        )
        return [tuple(row) for row in json.loads(out.strip().splitlines()[-1])]


def certbot_env(domain: str, token: str | None = None) -> dict[str, str]:
    """The environment certbot gives a hook for one HTTP-01 challenge, with a fresh token."""
    token = token or secrets.token_urlsafe(32)
    thumbprint = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return {
        "PATH": os.environ["PATH"],
        "CERTBOT_DOMAIN": domain,
        "CERTBOT_IDENTIFIER": domain,
        "CERTBOT_TOKEN": token,
        "CERTBOT_VALIDATION": f"{token}.{thumbprint}",
        "CERTBOT_ALL_DOMAINS": domain,
        "CERTBOT_REMAINING_CHALLENGES": "0",
    }


def keygen(key_file: Path, key_type: str = "ed25519") -> Path:
    """Make a key with auth-hook keygen; returns the public key file."""
    public = key_file.with_suffix(".pub.pem")
    with open(public, "wb") as out:
        subprocess.run(
            [str(AUTH_HOOK), "keygen", "--key-file", str(key_file), "--key-type", key_type],
            check=True,
            stdout=out,
            stderr=subprocess.PIPE,
        )
    return public


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


@contextlib.contextmanager
def running(*services) -> Iterator[None]:
    """Start services in order and stop them in reverse, whatever happens in between."""
    started = []
    try:
        for s in services:
            s.start()
            started.append(s)
        yield
    finally:
        for s in reversed(started):
            s.stop()


def require_built_hooks() -> None:
    for binary in (AUTH_HOOK, CLEANUP_HOOK):
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: run `cargo build --release` (scripts/bootstrap does it)")
    if shutil.which("pebble") is None:
        raise RuntimeError("pebble is not installed: run scripts/bootstrap (it runs `apt-get install pebble`)")


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster from Debian's binaries, on its own port, trusting local connections."""

    workdir: Path
    port: int = 5433
    database: str = "acme"
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    @staticmethod
    def bindir() -> Path:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions:
            raise RuntimeError("PostgreSQL is not installed: run scripts/bootstrap --with-scaleout")
        return versions[-1].parent

    def _as_postgres(self) -> list[str]:
        # PostgreSQL refuses to run as root; Debian's package creates the 'postgres' user.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> Postgres:
        ensure_port_free(self.port, "PostgreSQL")
        # The data directory lives outside pytest's root-only temp dirs, so the postgres user can reach it.
        self.data = Path(tempfile.mkdtemp(prefix="acme-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        bindir = self.bindir()
        subprocess.run(
            [
                *self._as_postgres(),
                str(bindir / "initdb"),
                "-D",
                str(self.data / "db"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
        )
        self.process = Process(
            "postgres",
            [
                *self._as_postgres(),
                str(bindir / "postgres"),
                "-D",
                str(self.data / "db"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.data),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",
            ],
            self.workdir / "postgres.log",
        )
        wait_for("PostgreSQL", lambda: port_open(self.port), proc=self.process)
        psql = [str(bindir / "psql") if (bindir / "psql").exists() else "psql"]
        wait_for(
            "PostgreSQL accepting queries",
            lambda: (
                subprocess.run(
                    [
                        *psql,
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "-U",
                        "postgres",
                        "-c",
                        f"CREATE DATABASE {self.database}",
                    ],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ),
            proc=self.process,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGINT)  # fast shutdown
            self.process = None
        shutil.rmtree(getattr(self, "data", ""), ignore_errors=True)


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
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        ensure_port_free(self.port, "nginx")
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in self.backends)
        upstream = f"upstream django_nodes {{\n{servers}\n    }}" if self.backends else ""
        proxy = "proxy_pass http://django_nodes; proxy_set_header Host $host; proxy_connect_timeout 2s;"
        location = f"location / {{ {f'root {self.webroot};' if self.webroot else proxy} }}"
        if not self.api_failover:
            location += f"\n        location /.well-known/challenges/ {{ {proxy} proxy_next_upstream off; }}"
        (w / "nginx.conf").write_text(
            f"""
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
    {upstream}
    server {{
        listen 127.0.0.1:{self.port};
        {location}
    }}
}}
"""
        )
        self.process = Process(
            "nginx", ["nginx", "-p", str(w), "-c", str(w / "nginx.conf"), "-g", "daemon off;"], w / "nginx.log"
        )
        wait_for("nginx", lambda: port_open(self.port), proc=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGQUIT)
            self.process = None
