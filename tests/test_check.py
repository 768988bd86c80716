"""`auth-hook check` against the real example site: the doctor a new user runs before asking the CA."""

from __future__ import annotations

from pathlib import Path

import harness as h
from harness import hook_args, run_hook


def check(site: h.Site, key: Path):
    return run_hook(h.AUTH_HOOK, ["check", "--domain", "check.example.com", *hook_args(site, key)], {})


def test_check_fails_before_the_key_is_registered_and_shows_the_key_and_the_fix(site: h.Site, tmp_path: Path) -> None:
    key = tmp_path / "new.key"
    public = h.keygen(key).read_text()

    result = check(site, key)

    assert result.returncode != 0
    assert "key: ok" in result.stdout and "server: ok" in result.stdout
    assert "push: failed" in result.stdout and "401" in result.stdout
    assert public.strip() in result.stdout
    assert "python manage.py certbot_client certbot --public-key-file" in result.stdout
    assert "PRIVATE KEY" not in result.stdout + result.stderr and "eyJ" not in result.stdout + result.stderr
    assert site.challenge_rows() == []


def test_check_passes_once_the_key_is_registered_and_leaves_no_rows(site: h.Site, tmp_path: Path) -> None:
    key = tmp_path / "new.key"
    public_file = h.keygen(key)
    assert check(site, key).returncode != 0

    site.register_key("certbot", public_file)
    result = check(site, key)

    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("key", "server", "push", "self-check", "delete"):
        assert f"{step}: ok" in result.stdout
    assert site.challenge_rows() == []


def test_check_against_a_closed_port_names_the_connection_problem(site: h.Site, key: Path) -> None:
    closed = h.free_port()
    args = ["check", "--domain", "check.example.com", "--server", f"http://127.0.0.1:{closed}", "--key-file", str(key)]

    result = run_hook(h.AUTH_HOOK, args, {})

    assert result.returncode != 0
    assert "server: failed" in result.stdout
    assert "Connection refused" in result.stdout and f"port {closed}" in result.stdout
    assert "push: skipped" in result.stdout


def test_key_rotation_keeps_every_step_working(site: h.Site, tmp_path: Path) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    old_public, new_public = h.keygen(old), h.keygen(new)
    site.register_key("certbot", old_public)

    # Register the new key next to the old one: both work, so nothing breaks while the config switches.
    site.register_key("certbot", new_public)
    assert check(site, old).returncode == 0
    assert check(site, new).returncode == 0
    listed = site.manage("certbot_client", "certbot", "--list-keys")
    assert len([line for line in listed.splitlines() if line.strip()]) == 2, listed

    # Remove the old key: it stops working, the new one goes on.
    site.manage("certbot_client", "certbot", "--remove-key", str(old_public))
    assert check(site, old).returncode != 0
    assert check(site, new).returncode == 0
    assert site.challenge_rows() == []
