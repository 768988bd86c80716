"""The product's main job, told as stories: real certbot, real Pebble, the example site, the release hooks."""

from __future__ import annotations

import configparser
import signal
import subprocess
from pathlib import Path

import pytest

import harness as h
from harness import hook_args


def assert_issued(result: subprocess.CompletedProcess[str], certbot: h.Certbot, name: str, domains: list[str]) -> dict:
    assert result.returncode == 0, f"certbot failed:\n{result.stdout}\n{result.stderr}\n{certbot.log()[-4000:]}"
    info = h.cert_info(certbot.live_cert(name))
    assert sorted(info["names"].split(",")) == sorted(domains)
    return info


def cleanup_runs(certbot: h.Certbot) -> int:
    """How often the last certbot run ran the cleanup hook (each run starts a new letsencrypt.log)."""
    return certbot.log().count("Running manual-cleanup-hook command")


def test_issue_a_certificate_for_one_domain(site: h.Site, key: Path, certbot: h.Certbot) -> None:
    result = certbot.certonly(["one.example.com"], hook_args(site, key))

    assert_issued(result, certbot, "one.example.com", ["one.example.com"])
    assert site.challenge_rows() == []


def test_issue_a_three_domain_san_certificate_and_leave_no_rows(site: h.Site, key: Path, certbot: h.Certbot) -> None:
    domains = ["a.example.com", "b.example.com", "c.example.com"]

    result = certbot.certonly(domains, hook_args(site, key))

    assert_issued(result, certbot, "a.example.com", domains)
    assert cleanup_runs(certbot) == 3
    assert site.challenge_rows() == []


def test_renew_uses_only_what_certbot_saved_in_its_renewal_config(
    site: h.Site, key: Path, certbot: h.Certbot, tmp_path: Path
) -> None:
    config = tmp_path / "django-hooks.toml"
    config.write_text(
        f'server = "{site.url}"\n'
        'username = "certbot"\n'
        f'key_file = "{key}"\n'
        f'self_check_url = "http://{{domain}}:{site.port}/.well-known/acme-challenge/{{token}}"\n'
        'resolve = ["*:127.0.0.1"]\n'
        "timeout = 30\n"
    )
    domains = ["renew.example.com", "www.renew.example.com"]
    first = assert_issued(certbot.certonly(domains, ["--config", str(config)]), certbot, domains[0], domains)

    renewal_conf = configparser.ConfigParser(interpolation=None)
    # certbot's renewal file starts with keys outside any section.
    renewal_conf.read_string("[top]\n" + (certbot.config_dir / "renewal" / f"{domains[0]}.conf").read_text())
    saved = renewal_conf["renewalparams"]
    assert saved["manual_auth_hook"] == f"{h.AUTH_HOOK} --config {config}"
    assert saved["manual_cleanup_hook"] == f"{h.CLEANUP_HOOK} --config {config}"

    renewed = certbot.renew("--force-renewal")

    assert renewed.returncode == 0, f"renew failed:\n{renewed.stdout}\n{renewed.stderr}\n{certbot.log()[-4000:]}"
    second = h.cert_info(certbot.live_cert(domains[0]))
    assert second["serial"] != first["serial"]
    # Pebble reuses a valid authorization now and then even with PEBBLE_AUTHZREUSE=0, so a renewal may need only
    # one of the two names validated; what matters is that it went through the saved hooks, once per challenge.
    auth_runs = certbot.log().count("Running manual-auth-hook command")
    assert 1 <= auth_runs <= 2, "the renewal did not go through the hooks"
    assert cleanup_runs(certbot) == auth_runs
    assert site.challenge_rows() == []


def test_an_unregistered_key_makes_certbot_fail_and_leaves_nothing_behind(
    site: h.Site, certbot: h.Certbot, tmp_path: Path
) -> None:
    site.manage("certbot_client", "certbot", "--public-key-file", str(h.keygen(tmp_path / "registered.key")))
    stranger = tmp_path / "stranger.key"
    h.keygen(stranger)

    result = certbot.certonly(["stranger.example.com"], hook_args(site, stranger))

    assert result.returncode != 0
    assert not certbot.live_cert("stranger.example.com").exists()
    assert "not registered" in certbot.log()
    assert site.challenge_rows() == []


@pytest.fixture
def site_allowing_two_of_three(tmp_path: Path) -> h.Site:
    s = h.Site(tmp_path / "site", extra_env={"ACME_CHALLENGE_ALLOWED_DOMAINS": "ok1.example.com,ok2.example.com"})
    with h.running(s):
        yield s


def test_a_site_refusing_one_domain_of_three_fails_certbot_before_any_validation_and_cleans_up_all(
    site_allowing_two_of_three: h.Site, certbot: h.Certbot, pebble: h.Pebble, tmp_path: Path
) -> None:
    site = site_allowing_two_of_three
    key_file = tmp_path / "certbot.key"
    site.register_key("certbot", h.keygen(key_file))
    domains = ["ok1.example.com", "refused.example.com", "ok2.example.com"]

    result = certbot.certonly(domains, hook_args(site, key_file))

    assert result.returncode != 0
    assert not certbot.live_cert("ok1.example.com").exists()
    assert "refused.example.com" in certbot.log()
    # The refused push stops certbot before it asks the CA (issue 13): the CA validated none of the three, every auth
    # hook that had returned gets its cleanup, the refused one stored nothing.
    assert [pebble.validations(d) for d in domains] == [0, 0, 0], result.stderr
    assert certbot.running_pids() == []
    assert cleanup_runs(certbot) == certbot.log().count("Running manual-auth-hook command") - 1
    assert site.challenge_rows() == []


@pytest.fixture
def slow_pebble(tmp_path: Path, pebble: h.Pebble) -> h.Pebble:
    """A second Pebble that waits before validating, so that certbot can be interrupted mid-validation."""
    ca = h.Pebble(
        tmp_path / "slow-pebble", port_offset=1, extra_env={"PEBBLE_VA_NOSLEEP": "", "PEBBLE_VA_SLEEPTIME": "8"}
    )
    with h.running(ca):
        yield ca


def test_certbot_interrupted_during_validation_still_cleans_up(
    site: h.Site, key: Path, slow_pebble: h.Pebble, tmp_path: Path
) -> None:
    certbot = h.Certbot(tmp_path / "certbot", slow_pebble)
    domains = ["int1.example.com", "int2.example.com", "int3.example.com"]
    proc = certbot.start(certbot.certonly_args(domains, hook_args(site, key)))
    try:
        # Every auth hook has returned and certbot has answered the challenges; Pebble sleeps before validating.
        h.wait_for(
            "certbot waiting for verification",
            lambda: "Waiting for verification" in certbot.log(),
            timeout=60,
            proc=proc,
        )
        assert len(site.challenge_rows()) == 3
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert not certbot.live_cert(domains[0]).exists(), "certbot finished before the signal: the test proved nothing"
    assert cleanup_runs(certbot) == 3
    assert site.challenge_rows() == []
