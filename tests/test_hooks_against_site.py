"""The hooks against the real example site, as certbot would run them, without a CA in the way."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

import harness as h
from harness import hook_args, run_hook


def served(site: h.Site, token: str, host: str | None) -> tuple[int, str]:
    """Status and body of the challenge URL as the CA fetches it, with this `Host` header (None: no Host at all).

    A challenge pushed for a domain is served only to requests whose Host names it, so the host is always given.
    """
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=5)
    try:
        connection.putrequest("GET", f"/.well-known/acme-challenge/{token}", skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read().decode()
        return response.status, body if response.status == 200 else ""
    finally:
        connection.close()


def make_key(kind: str, path: Path) -> Path:
    """A private key of the given kind and its public key file."""
    if kind == "openssl-pkcs1-rsa":
        h.openssl("genrsa", "-traditional", "-out", str(path), "2048")
        path.chmod(0o600)
        public = path.with_suffix(".pub.pem")
        h.openssl("rsa", "-in", str(path), "-pubout", "-out", str(public))
        assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
        return public
    return h.keygen(path, kind)


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "openssl-pkcs1-rsa"])
def test_a_pushed_challenge_is_served_then_removed_by_cleanup(site: h.Site, tmp_path: Path, kind: str) -> None:
    key = tmp_path / f"{kind}.key"
    site.register_key("certbot", make_key(kind, key))
    env = h.certbot_env("push.example.com")
    args = hook_args(site, key)

    auth = run_hook(h.AUTH_HOOK, args, env)

    assert auth.returncode == 0, auth.stderr
    assert served(site, env["CERTBOT_TOKEN"], f"push.example.com:{site.port}") == (200, env["CERTBOT_VALIDATION"])
    # Served only for the name it was pushed for: the site's own address, or another name, gets the unknown 404.
    assert served(site, env["CERTBOT_TOKEN"], f"127.0.0.1:{site.port}")[0] == 404
    assert served(site, env["CERTBOT_TOKEN"], "other.example.com")[0] == 404
    assert site.challenge_rows() == [("push.example.com", env["CERTBOT_TOKEN"])]

    cleanup_env = dict(env, CERTBOT_AUTH_OUTPUT=auth.stdout.strip())
    cleanup = run_hook(h.CLEANUP_HOOK, args, cleanup_env)
    assert cleanup.returncode == 0, cleanup.stderr
    assert served(site, env["CERTBOT_TOKEN"], "push.example.com")[0] == 404
    assert site.challenge_rows() == []

    again = run_hook(h.CLEANUP_HOOK, args, cleanup_env)
    assert again.returncode == 0, again.stderr

    for run in (auth, cleanup, again):
        output = run.stdout + run.stderr
        assert "eyJ" not in output, "a JWT (or other base64 JSON) reached the hook's output"
        assert "PRIVATE KEY" not in output


def test_auth_hook_prints_one_short_line_for_cleanup(site: h.Site, key: Path) -> None:
    env = h.certbot_env("line.example.com")

    auth = run_hook(h.AUTH_HOOK, hook_args(site, key), env)

    assert auth.returncode == 0, auth.stderr
    # The result line, then (issue 13) one indented line per address the self-check fetched through: here one.
    result, *addresses = auth.stdout.strip().splitlines()
    assert len(result) < 300 and env["CERTBOT_TOKEN"] in result, result
    assert len(addresses) == 1 and addresses[0].startswith("  via 127.0.0.1 (IPv4): served"), addresses


def test_cleanup_removes_only_its_own_token(site: h.Site, key: Path) -> None:
    mine, other = h.certbot_env("mine.example.com"), h.certbot_env("other.example.com")
    for env in (mine, other):
        assert run_hook(h.AUTH_HOOK, hook_args(site, key), env).returncode == 0

    assert run_hook(h.CLEANUP_HOOK, hook_args(site, key), mine).returncode == 0

    assert site.challenge_rows() == [("other.example.com", other["CERTBOT_TOKEN"])]


def test_a_user_without_permission_is_refused_with_a_message_naming_the_cause(site: h.Site, tmp_path: Path) -> None:
    key = tmp_path / "noperm.key"
    site.register_key("certbot", h.keygen(key))
    site.manage("site_data", "revoke-permissions", "certbot")
    env = h.certbot_env("noperm.example.com")

    auth = run_hook(h.AUTH_HOOK, hook_args(site, key), env)

    assert auth.returncode != 0
    assert "403" in auth.stderr and "permission" in auth.stderr
    assert site.challenge_rows() == []
