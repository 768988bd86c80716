"""dehydrated and uacme, Debian's ACME clients with a per-challenge hook, told as stories: the real clients, real
Pebble, the example site, and the release dehydrated-hook and uacme-hook.

Neither client passes options to its hook, so the hooks read the settings file CERTBOT_DJANGO_CONFIG names: exported
from dehydrated's own config (a shell file), and set in uacme's environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness as h

DEHYDRATED_HOOK = h.ROOT / "target" / "release" / "dehydrated-hook"
UACME_HOOK = h.ROOT / "target" / "release" / "uacme-hook"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Where the fallback of `trusted_by_uacme` puts Pebble's CA, for the length of one test.
LOCAL_CA = Path("/usr/local/share/ca-certificates/certbot-django-hooks-e2e-pebble.crt")


@pytest.fixture(scope="module", autouse=True)
def clients_and_hooks() -> None:
    h.require_built_hooks((DEHYDRATED_HOOK, UACME_HOOK), ("dehydrated", "uacme"))


def client_env(**extra: str) -> dict[str, str]:
    """The environment without any CERTBOT_* variable of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBOT_")}
    env.update(extra)
    return env


def write_hooks_config(path: Path, site: h.Site, key_file: Path) -> Path:
    """The hooks' settings for the local chain: the API and the self-check on the site's port."""
    path.write_text(
        f'server = "{site.url}"\n'
        'username = "certbot"\n'
        f'key_file = "{key_file}"\n'
        f'self_check_url = "http://{{domain}}:{site.port}/.well-known/acme-challenge/{{token}}"\n'
        'resolve = ["*:127.0.0.1"]\n'
        "timeout = 30\n"
    )
    return path


def served_lines(output: str) -> list[str]:
    """dehydrated-hook's result lines in dehydrated's output: one per challenge stored and served."""
    return [line for line in output.splitlines() if line.startswith("challenge ") and line.endswith(" and served")]


@dataclass
class Dehydrated:
    """Debian's dehydrated with its own config and base directory, HOOK=dehydrated-hook."""

    workdir: Path
    pebble: h.Pebble
    hooks_config: Path

    def configure(self, hook_chain: bool) -> None:
        (self.workdir / "wellknown").mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text(
            f'CA="{self.pebble.directory}"\n'
            f'BASEDIR="{self.workdir}"\n'
            # dehydrated still writes each challenge file here, and insists that it exists; nothing serves it.
            f'WELLKNOWN="{self.workdir / "wellknown"}"\n'
            'CHALLENGETYPE="http-01"\n'
            f'HOOK="{DEHYDRATED_HOOK}"\n'
            f'HOOK_CHAIN="{"yes" if hook_chain else "no"}"\n'
            'KEYSIZE="2048"\n'
            f'CURL_OPTS="--cacert {self.pebble.ca_bundle}"\n'
            f'export CERTBOT_DJANGO_CONFIG="{self.hooks_config}"\n'
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dehydrated", "--config", str(self.workdir / "config"), *args],
            check=False,
            env=client_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def register(self) -> None:
        result = self.run("--register", "--accept-terms")
        assert result.returncode == 0, f"dehydrated --register failed:\n{result.stdout}\n{result.stderr}"

    def cron(self, domains: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["--cron", *extra]
        for domain in domains:
            args += ["--domain", domain]
        return self.run(*args)

    def cert(self, name: str) -> Path:
        return self.workdir / "certs" / name / "fullchain.pem"


@pytest.fixture
def dehydrated(tmp_path: Path, pebble: h.Pebble, site: h.Site, key: Path) -> Dehydrated:
    client = Dehydrated(tmp_path / "dehydrated", pebble, write_hooks_config(tmp_path / "django-hooks.toml", site, key))
    client.configure(hook_chain=True)
    client.register()
    return client


@contextlib.contextmanager
def trusted_by_uacme(ca: Path, workdir: Path) -> Iterator[list[str]]:
    """A command prefix under which uacme trusts Pebble's CA.

    Debian 12's uacme (1.7.4, libcurl with GnuTLS) reads only the system bundle: no option or variable names another
    (UACME_CAINFO arrived in 1.7.5). So uacme runs in a mount namespace of its own, in which the system bundle has
    Pebble's CA appended; nothing outside that one process tree changes. Where namespaces are not allowed (an
    unprivileged container), the CA goes into the system store for the test, and out again afterwards.
    """
    bundle = workdir / "ca-certificates.crt"
    bundle.write_bytes(SYSTEM_BUNDLE.read_bytes() + ca.read_bytes())
    private = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        f'mount --bind "$0" {SYSTEM_BUNDLE} && exec "$@"',
        str(bundle),
    ]
    if subprocess.run([*private, "true"], check=False, capture_output=True).returncode == 0:
        yield private
        return
    shutil.copyfile(ca, LOCAL_CA)
    try:
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
        yield []
    finally:
        LOCAL_CA.unlink(missing_ok=True)
        # update-ca-certificates drops a removed certificate from the bundle but leaves its links behind.
        pem_link = SYSTEM_BUNDLE.parent / LOCAL_CA.with_suffix(".pem").name
        for link in SYSTEM_BUNDLE.parent.iterdir():
            if link.is_symlink() and os.readlink(link) in (pem_link.name, str(LOCAL_CA)):
                link.unlink()
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True)


@dataclass
class Uacme:
    """Debian's uacme with its own config directory, -h uacme-hook."""

    confdir: Path
    pebble: h.Pebble
    hooks_config: Path
    prefix: list[str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, "uacme", "-v", "-a", self.pebble.directory, "-c", str(self.confdir), *args],
            check=False,
            env=client_env(CERTBOT_DJANGO_CONFIG=str(self.hooks_config)),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def issue(self, domains: list[str]) -> subprocess.CompletedProcess[str]:
        return self.run("-h", str(UACME_HOOK), "issue", *domains)

    def cert(self, name: str) -> Path:
        return self.confdir / name / "cert.pem"


@pytest.fixture
def uacme(tmp_path: Path, pebble: h.Pebble, site: h.Site, key: Path) -> Iterator[Uacme]:
    with trusted_by_uacme(pebble.ca_bundle, tmp_path) as prefix:
        config = write_hooks_config(tmp_path / "django-hooks.toml", site, key)
        client = Uacme(tmp_path / "uacme", pebble, config, prefix)
        new = client.run("-y", "new")
        assert new.returncode == 0, f"uacme new failed:\n{new.stdout}\n{new.stderr}"
        yield client


def stranger_config(tmp_path: Path, site: h.Site, config: Path) -> None:
    """Points the hooks' settings at a key the site does not know."""
    stranger = tmp_path / "stranger.key"
    h.keygen(stranger)
    write_hooks_config(config, site, stranger)


def test_dehydrated_issues_a_two_domain_certificate_and_renews_it_through_the_hook(
    dehydrated: Dehydrated, site: h.Site
) -> None:
    domains = ["dehydrated.example.com", "www.dehydrated.example.com"]

    issued = dehydrated.cron(domains)

    output = f"{issued.stdout}\n{issued.stderr}"
    assert issued.returncode == 0, f"dehydrated failed:\n{output}"
    # HOOK_CHAIN=yes: one deploy_challenge call for both names, each stored and served.
    assert len(served_lines(issued.stdout)) == 2, output
    first = h.cert_info(dehydrated.cert(domains[0]))
    assert sorted(first["names"].split(",")) == sorted(domains)
    assert site.challenge_rows() == []

    # The renewal calls the hook once per name (HOOK_CHAIN=no), from nothing but dehydrated's config.
    dehydrated.configure(hook_chain=False)
    renewed = dehydrated.cron(domains, "--force")

    output = f"{renewed.stdout}\n{renewed.stderr}"
    assert renewed.returncode == 0, f"dehydrated --force failed:\n{output}"
    assert len(served_lines(renewed.stdout)) == 2, output
    second = h.cert_info(dehydrated.cert(domains[0]))
    assert second["serial"] != first["serial"]
    assert sorted(second["names"].split(",")) == sorted(domains)
    assert site.challenge_rows() == []


def test_dehydrated_with_an_unregistered_key_fails_without_a_certificate_or_rows(
    dehydrated: Dehydrated, site: h.Site, tmp_path: Path
) -> None:
    stranger_config(tmp_path, site, dehydrated.hooks_config)
    domains = ["stranger.example.com", "www.stranger.example.com"]

    result = dehydrated.cron(domains)

    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode != 0, output
    assert "dehydrated-hook: error: POST " in output and "401 Unauthorized" in output, output
    assert "deploy_challenge hook returned with non-zero exit code" in output, output
    assert not dehydrated.cert(domains[0]).exists()
    assert site.challenge_rows() == []


def test_uacme_issues_a_certificate_through_the_hook_declining_other_challenge_types(
    uacme: Uacme, site: h.Site
) -> None:
    domains = ["uacme.example.com", "www.uacme.example.com"]

    result = uacme.issue(domains)

    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"uacme failed:\n{output}"
    # Pebble offers dns-01 and tls-alpn-01 too, in random order; uacme asks the hook about each until one is accepted.
    assert "challenge http-01 declined" not in output, output
    assert output.count(f"{UACME_HOOK} done http-01 ") == 2, output
    info = h.cert_info(uacme.cert(domains[0]))
    assert sorted(info["names"].split(",")) == sorted(domains)
    assert site.challenge_rows() == []


def test_uacme_with_an_unregistered_key_fails_without_a_certificate_or_rows(
    uacme: Uacme, site: h.Site, tmp_path: Path
) -> None:
    stranger_config(tmp_path, site, uacme.hooks_config)
    domains = ["ustranger.example.com"]

    result = uacme.issue(domains)

    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 2, output
    assert "uacme-hook: error: POST " in output and "401 Unauthorized" in output, output
    assert not uacme.cert(domains[0]).exists()
    assert site.challenge_rows() == []
