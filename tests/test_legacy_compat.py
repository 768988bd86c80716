"""Compatibility with the software people migrate from, run for real (issue 11).

* The original certbot-django 0.2.0 plugin, on certbot 1.32 with asymmetric-jwt-auth 0.4.1, issues and renews
  through the example site when the site names its user in ACME_CHALLENGE_LEGACY_CLIENTS, and is refused, with a
  message naming the missing claims, when it does not.
* The original certbot-django 0.2.0 server app, with asymmetric-jwt-auth 1.0, keeps accepting the release hooks,
  whose JWTs now carry the request-binding claims htm, htu and bsh.

The old software lives in venvs of its own (tests/harness/legacy.py builds them once per machine).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h
from harness import legacy

REQUEST_BINDING = {"htm", "htu", "bsh"}
REGISTERED_CLAIMS = {"aud", "iss", "exp", "nbf", "iat"}


@pytest.fixture(autouse=True)
def leave_no_keys_behind(tmp_path: Path) -> Iterator[None]:
    """After each story, once its processes have stopped: the private keys first (the hooks', the old plugin's key
    directory, certbot's account and certificate keys), then everything else the story wrote."""
    yield
    for path in [*tmp_path.rglob("*.key"), *tmp_path.glob("*/config"), tmp_path / "certbot-keys"]:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    shutil.rmtree(tmp_path)


@pytest.fixture(scope="session")
def legacy_client() -> Path:
    return legacy.ensure_venv(legacy.CLIENT)


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[legacy.LegacyServer]:
    h.require_built_hooks()
    with legacy.legacy_server(tmp_path / "legacy-site", h.free_port()) as server:
        yield server


@pytest.fixture
def legacy_mode_site(tmp_path: Path) -> Iterator[h.Site]:
    # Issue 19: legacy mode names the users still on the old plugin; its key is registered to 'certbot'.
    s = h.Site(tmp_path / "site", extra_env={"ACME_CHALLENGE_LEGACY_CLIENTS": "certbot"})
    with h.running(s):
        yield s


def served(base_url: str, token: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{base_url}/.well-known/acme-challenge/{token}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def run_hook(binary: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def old_server_hook_args(server: legacy.LegacyServer, key_args: list[str]) -> list[str]:
    return [
        "--server",
        server.url,
        "--username",
        "certbot",
        *key_args,
        "--self-check-url",
        f"http://{{domain}}:{server.port}/.well-known/acme-challenge/{{token}}",
        "--resolve",
        "*:127.0.0.1",
        "--timeout",
        "30",
    ]


def plugin_key_directory(tmp_path: Path, site: h.Site, domain: str) -> Path:
    """The old plugin's key directory, with the key it would have made for `domain`, registered on the site."""
    key_directory = tmp_path / "certbot-keys"
    key_directory.mkdir(mode=0o700)
    site.register_key("certbot", legacy.old_plugin_keypair(key_directory, domain))
    return key_directory


def site_log(site: h.Site) -> str:
    """The end of the site's log: its one line per refused API call says why."""
    return site.process.tail() if site.process else ""


def plugin_pushes(certbot: h.Certbot) -> int:
    """How many challenges the old plugin stored on the site in certbot's last run (its own log line)."""
    return certbot.log().count("Successfully added ACMEChallenge to server")


# Story A: the original plugin against the example site.


def test_the_original_plugin_issues_and_renews_through_a_site_in_legacy_mode(
    legacy_client: Path, legacy_mode_site: h.Site, pebble: h.Pebble, tmp_path: Path
) -> None:
    site, domain = legacy_mode_site, "legacy.example.com"
    key_directory = plugin_key_directory(tmp_path, site, domain)
    certbot = legacy.LegacyCertbot(tmp_path / "certbot", pebble, site.url)

    issued = certbot.plugin_certonly([domain], key_directory)

    assert issued.returncode == 0, f"certbot 1.32 failed:\n{certbot.log()[-4000:]}\nsite:\n{site_log(site)}"
    assert plugin_pushes(certbot) == 1
    first = h.cert_info(certbot.live_cert(domain))
    assert first["names"] == domain
    assert site.challenge_rows() == [], "the plugin's DELETE did not remove its challenge"

    # Renewal uses only what certbot saved (plugin options are saved under the plugin's name, colon included).
    renewal_conf = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    renewal_conf.read_string("[top]\n" + (certbot.config_dir / "renewal" / f"{domain}.conf").read_text())
    saved = renewal_conf["renewalparams"]
    assert saved["authenticator"] == "certbot-django:auth"
    assert saved["certbot_django:auth_key_directory"] == str(key_directory)
    assert saved["certbot_django:auth_username"] == "certbot"

    renewed = certbot.renew("--force-renewal")

    assert renewed.returncode == 0, f"certbot 1.32 renew failed:\n{certbot.log()[-4000:]}\nsite:\n{site_log(site)}"
    assert plugin_pushes(certbot) == 1, "the renewal did not go through the plugin"
    assert h.cert_info(certbot.live_cert(domain))["serial"] != first["serial"]
    assert site.challenge_rows() == []


def test_a_site_without_legacy_mode_refuses_the_original_plugin_naming_the_missing_claims(
    legacy_client: Path, site: h.Site, pebble: h.Pebble, tmp_path: Path
) -> None:
    domain = "refused-legacy.example.com"
    key_directory = plugin_key_directory(tmp_path, site, domain)
    certbot = legacy.LegacyCertbot(tmp_path / "certbot", pebble, site.url)

    result = certbot.plugin_certonly([domain], key_directory)

    assert result.returncode != 0
    assert not certbot.live_cert(domain).exists()
    assert f"401 Client Error: Unauthorized for url: http://{domain}/.well-known/challenges/" in certbot.log()
    assert site.challenge_rows() == []
    # The plugin drops the body of the answer; the same request from the old library shows what the site said.
    env = h.certbot_env(domain)
    status, body = legacy.old_library_push(
        f"{site.url}/.well-known/challenges/",
        "certbot",
        key_directory / legacy.key_file_name(domain),
        env["CERTBOT_TOKEN"],
        env["CERTBOT_VALIDATION"],
    )
    assert status == 401
    assert "JWT lacks the request-binding claims htm, htu, bsh" in body
    assert "name user 'certbot' in ACME_CHALLENGE_LEGACY_CLIENTS" in body
    assert site.challenge_rows() == []


# Story B: the release hooks against the original server.


@pytest.mark.parametrize("key_kind", ["ed25519-key-file", "old-plugin-key-directory"])
def test_the_original_server_stores_serves_and_deletes_the_hooks_challenges(
    old_server: legacy.LegacyServer, tmp_path: Path, key_kind: str, request: pytest.FixtureRequest
) -> None:
    domain = "old-server.example.com"
    if key_kind == "ed25519-key-file":
        key = tmp_path / "certbot.key"
        key_args = ["--key-file", str(key)]
        old_server.register_key("certbot", h.keygen(key))
    else:
        # A whole migration but the site: the RSA key the old plugin made, in its key directory, read by the hooks.
        request.getfixturevalue("legacy_client")
        key_directory = tmp_path / "certbot-keys"
        key_directory.mkdir(mode=0o700)
        key_args = ["--key-directory", str(key_directory)]
        old_server.register_key("certbot", legacy.old_plugin_keypair(key_directory, domain))
    env = h.certbot_env(domain)
    token, validation = env["CERTBOT_TOKEN"], env["CERTBOT_VALIDATION"]
    args = old_server_hook_args(old_server, key_args)

    auth = run_hook(h.AUTH_HOOK, args, env)

    assert auth.returncode == 0, auth.stderr
    # certbot-django renders the response through a template that ends in a newline; the CA strips it.
    assert served(old_server.url, token) == (200, validation + "\n")
    assert old_server.challenge_rows() == [(token, validation)]

    cleanup = run_hook(h.CLEANUP_HOOK, args, dict(env, CERTBOT_AUTH_OUTPUT=auth.stdout.strip()))

    assert cleanup.returncode == 0, cleanup.stderr
    assert served(old_server.url, token)[0] == 404
    assert old_server.challenge_rows() == []
    seen = old_server.claims_seen()
    assert [(method, path) for method, path, _ in seen] == [
        ("POST", "/.well-known/challenges/"),
        ("DELETE", f"/.well-known/challenges/{token}/"),
    ]
    for _, _, names in seen:
        assert set(names) >= REQUEST_BINDING, f"the hooks sent no request-binding claims ({names}): nothing was proved"
        assert not REGISTERED_CLAIMS & set(names)


def test_the_original_server_refuses_the_hooks_with_an_unregistered_key(
    old_server: legacy.LegacyServer, tmp_path: Path
) -> None:
    old_server.register_key("certbot", h.keygen(tmp_path / "registered.key"))
    stranger = tmp_path / "stranger.key"
    h.keygen(stranger)
    env = h.certbot_env("stranger.example.com")

    auth = run_hook(h.AUTH_HOOK, old_server_hook_args(old_server, ["--key-file", str(stranger)]), env)

    assert auth.returncode != 0
    assert "403" in auth.stderr
    assert old_server.challenge_rows() == []


def test_certbot_with_the_hooks_issues_through_the_original_server(pebble: h.Pebble, tmp_path: Path) -> None:
    """A certbot host already on the hooks, its site not yet migrated: a real issuance through the old server, which
    has no batch endpoint (issue 22). The last auth hook tries the batch once, gets the old server's plain 404, and
    pushes the challenges one by one; the cleanup hooks delete them one by one."""
    h.require_built_hooks()
    domains = ["migrating.example.com", "www.migrating.example.com", "api.migrating.example.com"]
    key = tmp_path / "certbot.key"
    certbot = h.Certbot(tmp_path / "certbot", pebble)
    with legacy.legacy_server(tmp_path / "legacy-site", h.HTTP01_PORT) as server:
        server.register_key("certbot", h.keygen(key))

        result = certbot.certonly(domains, old_server_hook_args(server, ["--key-file", str(key)]))

        assert result.returncode == 0, f"certbot failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
        assert sorted(h.cert_info(certbot.live_cert(domains[0]))["names"].split(",")) == sorted(domains)
        assert server.challenge_rows() == []
        calls = [(method, path) for method, path, _ in server.claims_seen()]
        batch = [i for i, (_, path) in enumerate(calls) if path.startswith("/.well-known/challenge-batch/")]
        pushes = [i for i, call in enumerate(calls) if call == ("POST", "/.well-known/challenges/")]
        deletes = [i for i, (method, _) in enumerate(calls) if method == "DELETE"]
        # One try of the batch push, then every challenge pushed on its own; at most one try of the batch delete
        # (the hooks may remember that the site has none); every challenge deleted on its own.
        assert calls[0] == ("POST", "/.well-known/challenge-batch/"), calls
        assert len(pushes) == 3 and min(pushes) > 0, calls
        assert len(deletes) == 3 and min(deletes) > max(pushes), calls
        assert len(batch) in (1, 2) and len(calls) == len(batch) + 6, calls
