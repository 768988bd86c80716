"""The old software that sites and certbot hosts migrate from, in venvs of their own, for tests/test_legacy_compat.py.

* `.venv-legacy-client`: certbot 1.32 with the original certbot-django 0.2.0 plugin and asymmetric-jwt-auth 0.4.1
  (tests/legacy_site/requirements-client.txt).
* `.venv-legacy-server`: certbot-django 0.2.0's server app with asymmetric-jwt-auth 1.0.0, Django 3.2 and DRF 3.14
  (tests/legacy_site/requirements-server.txt), serving the stand-in project in tests/legacy_site.

Each venv is built from its fully pinned list with `pip --no-deps --only-binary :all:` (no compiler, no resolver
surprises) and rebuilt only when the list or the interpreter changes, so the second run costs nothing.
`python -m harness.legacy` builds both (scripts/bootstrap --with-legacy runs it); the tests' fixtures call the same
`ensure_venv`, so a fresh machine needs nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .certbot import Certbot
from .paths import ROOT
from .pebble import Pebble
from .process import HarnessError, Process, ensure_port_free, run_checked, running, start_server

LEGACY_SITE_DIR = ROOT / "tests" / "legacy_site"


@dataclass(frozen=True)
class LegacyVenv:
    """A venv of old software: where it lives, its pinned list, and the Pythons it runs on, best first."""

    name: str
    requirements: Path
    pythons: tuple[str, ...]

    @property
    def path(self) -> Path:
        return ROOT / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, program: str) -> Path:
        return self.path / "bin" / program


# certbot 1.32 supports Python 3.7 to 3.11.
CLIENT = LegacyVenv(".venv-legacy-client", LEGACY_SITE_DIR / "requirements-client.txt", ("3.11", "3.10"))
# Django 3.2 supports Python up to 3.10; it runs on 3.11 too, the one Python every machine of this project has.
SERVER = LegacyVenv(".venv-legacy-server", LEGACY_SITE_DIR / "requirements-server.txt", ("3.10", "3.11"))


def _version_of(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python(minors: Sequence[str]) -> Path:
    """The first interpreter of one of these minor versions: pyenv's, then `pythonX.Y` or `python3` on PATH."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for minor in minors:
        for candidate in sorted((pyenv_root / "versions").glob(f"{minor}.*/bin/python{minor}"), reverse=True):
            if _version_of(candidate) == minor:
                return candidate
        for name in (f"python{minor}", "python3"):
            found = shutil.which(name)
            if found and _version_of(Path(found)) == minor:
                return Path(found)
    raise HarnessError(
        f"no Python {' or '.join(minors)} found (looked in {pyenv_root}/versions and on PATH): the old software "
        f"of the compatibility tests runs on no other; install one, e.g. `pyenv install {minors[0]}`"
    )


def ensure_venv(venv: LegacyVenv, log: Callable[[str], object] = print) -> Path:
    """Build `venv` unless it is already built from the same pinned list and interpreter; returns its python."""
    python = find_python(venv.pythons)
    stamp = hashlib.sha256(venv.requirements.read_bytes() + f"\n{python}\n{_version_of(python)}".encode()).hexdigest()
    stamp_file = venv.path / ".stamp"
    # Concurrent test runs on one machine build one after the other; the lock is on the pinned list itself.
    with open(venv.requirements, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if venv.python.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp:
            return venv.python
        log(f"legacy: building {venv.name} with {python} from {venv.requirements.relative_to(ROOT)}")
        shutil.rmtree(venv.path, ignore_errors=True)
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        steps = [
            [str(python), "-m", "venv", str(venv.path)],
            [str(venv.python), "-m", "pip", "install", "-q", "--no-deps", "--only-binary", ":all:"]
            + ["-r", str(venv.requirements)],
            [str(venv.python), "-m", "pip", "check"],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                shutil.rmtree(venv.path, ignore_errors=True)
                raise HarnessError(
                    f"building {venv.name} failed at `{' '.join(step)}` ({result.returncode}):\n"
                    f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n"
                    f"PyPI must be reachable, and every pin in {venv.requirements} must have a wheel for {python}"
                )
        stamp_file.write_text(stamp + "\n")
    return venv.python


def key_file_name(domain: str) -> str:
    """The file the old plugin reads a domain's private key from, in its key directory."""
    return f"certbot_django_id_rsa_{domain}".replace(".", "")


def old_plugin_keypair(key_directory: Path, domain: str) -> Path:
    """A key pair made as the old plugin makes it on first use (asymmetric_jwt_auth 0.4.1's generate_key_pair:
    RSA 2048, PKCS#8 PEM): the private key in the plugin's layout in `key_directory`, the public key beside the
    directory. Returns the public key file. The plugin wrote its key with the umask's mode; this one is 0600, as
    the README's migration steps leave it (the hooks refuse keys that group or others can read)."""
    private = key_directory / key_file_name(domain)
    public = key_directory.parent / f"{private.name}.pub.pem"
    script = (
        "import os, sys\n"
        "from asymmetric_jwt_auth import generate_key_pair\n"
        "private, public = generate_key_pair()\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n"
        "with os.fdopen(fd, 'w') as f:\n"
        "    f.write(private)\n"
        "with open(sys.argv[2], 'w') as f:\n"
        "    f.write(public)\n"
    )
    subprocess.run([str(CLIENT.python), "-c", script, str(private), str(public)], check=True, capture_output=True)
    return public


def old_library_push(url: str, username: str, private_key: Path, token: str, validation: str) -> tuple[int, str]:
    """POST a challenge exactly as the old plugin's `_add_challenge_to_server` does (requests, form data without
    `domain`, an Authorization header from asymmetric_jwt_auth 0.4.1's create_auth_header). Returns status and
    body; the JWT is never printed."""
    script = (
        "import json, sys, requests\n"
        "from asymmetric_jwt_auth import create_auth_header\n"
        "url, username, key_file, token, validation = sys.argv[1:]\n"
        "headers = {'Authorization': create_auth_header(username=username, key=open(key_file).read())}\n"
        "r = requests.post(url, headers=headers, data={'challenge': token, 'response': validation})\n"
        "print(json.dumps([r.status_code, r.text]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out = subprocess.run(
        [str(CLIENT.python), "-c", script, url, username, str(private_key), token, validation],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    status, body = json.loads(out.stdout.strip().splitlines()[-1])
    return status, body


class LegacyCertbot(Certbot):
    """certbot 1.32 with the old plugin, against the same Pebble.

    The plugin always talks to `http://<domain>/` (port 80). The test site listens where Pebble validates, so the
    plugin's requests go there through `http_proxy`, which requests honours: the site gets them with their own
    Host and path, as an origin server behind a forward proxy does. Pebble is reached directly (https, no proxy).
    """

    def __init__(self, workdir: Path, pebble: Pebble, site_url: str) -> None:
        super().__init__(workdir, pebble)
        self.site_url = site_url

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in super().env().items() if not k.lower().endswith("_proxy")}
        env.update(http_proxy=self.site_url, no_proxy="127.0.0.1,localhost")
        return env

    def base_args(self) -> list[str]:
        return [str(CLIENT.bin("certbot")), *super().base_args()[1:]]

    def plugin_certonly(
        self, domains: Sequence[str], key_directory: Path, username: str = "certbot"
    ) -> subprocess.CompletedProcess[str]:
        """`certbot certonly` with the plugin, spelled as certbot-django's usage guide spells it."""
        args = self.base_args() + [
            "certonly",
            "-a",
            "certbot-django:auth",
            "--certbot-django:auth-key-directory",
            str(key_directory),
            "--certbot-django:auth-username",
            username,
            "--certbot-django:auth-public-ip-logging-ok",
        ]
        for d in domains:
            args += ["-d", d]
        return self.run(args)


class LegacyServer:
    """The stand-in for a site still on certbot-django 0.2.0's server app (tests/legacy_site), under gunicorn.

    `claims_log` receives, per API request that carries a JWT, the method, the path and the sorted names of the
    token's claims (a test-only middleware of the stand-in; never the token itself).
    """

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def claims_log(self) -> Path:
        return self.workdir / "claims.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON"))}
        env.update(
            DJANGO_SETTINGS_MODULE="legacy_site.settings",
            LEGACY_SITE_DATABASE=str(self.workdir / "legacy.sqlite3"),
            LEGACY_SITE_CLAIMS_LOG=str(self.claims_log),
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS="ignore",
        )
        return env

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run_checked(
            f"legacy manage.py {' '.join(args)}",
            [str(SERVER.python), "manage.py", *args],
            cwd=LEGACY_SITE_DIR,
            env={**self.env(), **(env or {})},
        )

    def start(self) -> LegacyServer:
        ensure_venv(SERVER)
        self.workdir.mkdir(parents=True, exist_ok=True)
        ensure_port_free(self.port, "legacy certbot-django site")
        self.manage("migrate", "--noinput", "-v", "0")
        self.process = start_server(
            f"legacy site on port {self.port}",
            [str(SERVER.bin("gunicorn")), "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "legacy_site.wsgi"],
            self.workdir / "legacy-site.log",
            f"{self.url}/admin/login/",
            env=self.env(),
            cwd=LEGACY_SITE_DIR,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def register_key(self, username: str, public_key_file: Path) -> None:
        """As certbot-django's guide says: a staff user with the add and delete permissions on its challenges,
        and the public key in asymmetric-jwt-auth's PublicKey model (validated as its admin form would)."""
        self.manage("legacy_data", "register-key", username, str(public_key_file))

    def challenge_rows(self) -> list[tuple[str, str]]:
        """(challenge, response) of every stored AcmeChallenge."""
        out = self.manage("legacy_data", "challenges")
        return [(challenge, response) for challenge, response in json.loads(out.strip().splitlines()[-1])]

    def claims_seen(self) -> list[tuple[str, str, list[str]]]:
        """(method, path, claim names) of each JWT the site received, in order."""
        if not self.claims_log.exists():
            return []
        return [tuple(json.loads(line)) for line in self.claims_log.read_text().splitlines() if line]


@contextlib.contextmanager
def legacy_server(workdir: Path, port: int) -> Iterator[LegacyServer]:
    server = LegacyServer(workdir, port)
    with running(server):
        yield server


def main() -> int:
    for venv in (CLIENT, SERVER):
        ensure_venv(venv)
    print(f"legacy: {CLIENT.name} and {SERVER.name} are ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
