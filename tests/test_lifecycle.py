"""Issue 15, end to end: certbot with Pebble issues a certificate through all three hooks; the site then knows each
name's real expiry (as openssl reads it from the certificate), the CA's fetches and the pushes, and its verdict moves
from ok to renew due, late and expired as the clock moves, with the status command's exit status following. A report
for a name outside the key's scope is refused and recorded; the metrics endpoint serves the same facts."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import harness as h
from harness import hook_args

DEPLOY_HOOK = h.ROOT / "target" / "release" / "deploy-hook"
METRICS_TOKEN = "e2e-metrics-token-0123456789abcdef"


@pytest.fixture
def site(tmp_path: Path, pebble: h.Pebble) -> h.Site:
    # Issue 19: the site verifies each reported chain, here to the root Pebble made at its start.
    roots = pebble.write_root(tmp_path / "pebble-root.pem")
    extra_env = {"ACME_CHALLENGE_METRICS_TOKEN": METRICS_TOKEN, "ACME_CHALLENGE_TRUST_ROOTS": str(roots)}
    s = h.Site(tmp_path / "site", extra_env=extra_env)
    with h.running(s):
        yield s


def status(site: h.Site, *args: str) -> tuple[int, list[dict]]:
    """acme_challenge_status --json: its exit status and its objects."""
    result = subprocess.run(
        [str(h.PYTHON), "manage.py", "acme_challenge_status", "--json", *args],
        cwd=h.SITE_DIR,
        env=site.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def openssl_dates(cert: Path) -> tuple[datetime, datetime]:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-startdate", "-enddate"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.strip().splitlines())
    parse = lambda text: datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)  # noqa: E731
    return parse(values["notBefore"]), parse(values["notAfter"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_certificate_issued_through_all_three_hooks_is_watched_until_it_expires(
    site: h.Site, key: Path, certbot: h.Certbot
) -> None:
    domains = ["life.example.com", "www.life.example.com"]
    args = certbot.certonly_args(domains, hook_args(site, key)) + [
        "--deploy-hook",
        certbot.hook_line(DEPLOY_HOOK, hook_args(site, key)),
    ]
    result = certbot.run(args)
    assert result.returncode == 0, f"certbot failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
    assert "Running deploy-hook command" in certbot.log()
    cert = certbot.config_dir / "live" / domains[0] / "cert.pem"
    not_before, not_after = openssl_dates(cert)

    code, found = status(site)
    assert code == 0
    by_name = {entry["name"]: entry for entry in found}
    assert sorted(by_name) == sorted(domains)
    serial = h.cert_info(cert)["serial"].lower().lstrip("0")
    for name in domains:
        entry = by_name[name]
        assert entry["verdict"] == "ok"
        assert entry["not_after"] == not_after.isoformat()
        assert entry["certificate"]["serial"].lstrip("0") == serial
        assert entry["last_push"]["user"] == "certbot"
        assert entry["last_ca_fetch"] is not None, entry
        assert entry["last_ca_fetch"]["status"] == 200
        clients = {fetch["by"] for fetch in entry["fetches"]}
        assert clients == {"ca", "self-check"}, entry["fetches"]

    lifetime = not_after - not_before
    due = not_before + (lifetime / 2 if lifetime < timedelta(days=10) else lifetime * 2 / 3)
    late = due + (not_after - due) / 2
    second = timedelta(seconds=1)
    for moment, verdict, exit_status in (
        (due - second * 60, "ok", 0),
        (due + second * 60, "renew due", 0),
        (late + second * 60, "late", 1),
        (not_after + second, "expired", 2),
    ):
        code, found = status(site, "--now", iso(moment))
        assert {entry["verdict"] for entry in found} == {verdict}, (moment, found)
        assert code == exit_status

    # The metrics say the same, to the holder of the token only.
    url = f"{site.url}/.well-known/acme-challenge-metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    expiry = f'acme_certificate_expiry_timestamp_seconds{{identifier="{domains[0]}"}} {int(not_after.timestamp())}'
    assert expiry in text


def test_a_report_for_a_name_outside_the_keys_scope_is_refused_and_recorded(
    site: h.Site, key: Path, certbot: h.Certbot, tmp_path: Path
) -> None:
    domains = ["scoped.example.com", "other.example.com"]
    result = certbot.certonly(domains, hook_args(site, key))
    assert result.returncode == 0, f"certbot failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
    # Now limit the key to the first name only, and report the two-name certificate by hand, as certbot would.
    public = tmp_path / "certbot.pub.pem"
    site.manage("certbot_client", "certbot", "--public-key-file", str(public), "--domain", domains[0])
    env = {
        "PATH": os.environ["PATH"],
        "RENEWED_LINEAGE": str(certbot.config_dir / "live" / domains[0]),
        "RENEWED_DOMAINS": " ".join(domains),
    }
    hook = subprocess.run(
        [str(DEPLOY_HOOK), *hook_args(site, key)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert hook.returncode == 1
    assert "403 Forbidden" in hook.stderr
    assert "name: 'other.example.com' is outside the scope of key" in hook.stderr
    assert "eyJ" not in hook.stderr + hook.stdout
    records = json.loads(site.manage("site_data", "audit", "--action", "report").strip().splitlines()[-1])
    assert [(record["status"], record["domain"]) for record in records] == [(403, "other.example.com")]
    code, found = status(site)
    assert {entry["verdict"] for entry in found} == {"never issued"}
    assert code == 0


def test_certbot_reconfigure_adds_the_deploy_hook_to_an_existing_certificate_and_reports_it_at_once(
    site: h.Site, key: Path, certbot: h.Certbot
) -> None:
    name = "existing.example.com"
    issued = certbot.certonly([name], hook_args(site, key))
    assert issued.returncode == 0, f"certbot failed:\n{issued.stderr}\n{certbot.log()[-4000:]}"
    assert {entry["verdict"] for entry in status(site)[1]} == {"never issued"}

    deploy_line = certbot.hook_line(DEPLOY_HOOK, hook_args(site, key))
    result = certbot.run(
        [*certbot.base_args(), "reconfigure", "--cert-name", name, "--deploy-hook", deploy_line, "--run-deploy-hooks"]
    )
    assert result.returncode == 0, f"reconfigure failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
    renewal = (certbot.config_dir / "renewal" / f"{name}.conf").read_text()
    assert f"renew_hook = {deploy_line}" in renewal
    _, not_after = openssl_dates(certbot.config_dir / "live" / name / "cert.pem")
    code, found = status(site)
    assert code == 0
    assert [(entry["name"], entry["verdict"], entry["not_after"]) for entry in found] == [
        (name, "ok", not_after.isoformat())
    ]
