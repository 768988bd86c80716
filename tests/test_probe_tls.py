"""Issue 23, end to end: nginx serves TLS with a certificate Pebble issued through certbot and our three hooks, and
``acme_challenge_status --probe`` reads what nginx really presents. Renewed without a reload, the served certificate
is stale and the exit status says late; after the reload it is ok. A name dropped from the certificate but still
pointed at nginx is missing from it (exit 2); a closed port is unreachable (exit 1). The metrics and the dashboard's
rows say what the command says."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import harness as h
from harness import hook_args

DEPLOY_HOOK = h.ROOT / "target" / "release" / "deploy-hook"
METRICS_TOKEN = "probe-metrics-token-0123456789abcdef"
NAME, WWW = "tls.example.com", "www.tls.example.com"


@pytest.fixture
def site(tmp_path: Path, pebble: h.Pebble) -> Iterator[h.Site]:
    # The site verifies reported certificates to Pebble's root, which Pebble makes anew at every start.
    root = tmp_path / "pebble-root.pem"
    context = ssl.create_default_context(cafile=str(pebble.ca_bundle))
    mgmt = h.PEBBLE_MGMT_PORT + pebble.port_offset
    with urllib.request.urlopen(f"https://127.0.0.1:{mgmt}/roots/0", context=context, timeout=10) as response:
        root.write_bytes(response.read())
    s = h.Site(
        tmp_path / "site",
        extra_env={"ACME_CHALLENGE_METRICS_TOKEN": METRICS_TOKEN, "ACME_CHALLENGE_TRUST_ROOTS": str(root)},
    )
    with h.running(s):
        yield s


def probe(site: h.Site, addresses: dict[str, int]) -> tuple[int, dict[str, dict]]:
    """acme_challenge_status --probe --json, each name probed on 127.0.0.1 at the port given: the exit status and
    each name's entry."""
    env = site.env()
    env["ACME_CHALLENGE_PROBE_ADDRESSES"] = ",".join(f"{name}=127.0.0.1:{port}" for name, port in addresses.items())
    result = subprocess.run(
        [str(h.PYTHON), "manage.py", "acme_challenge_status", "--json", "--probe"],
        cwd=h.SITE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # A crash also exits 1: only a JSON array on stdout is an answer.
    assert result.returncode in (0, 1, 2), result.stderr
    assert result.stdout.lstrip().startswith("["), f"no answer (exit {result.returncode}):\n{result.stderr}"
    return result.returncode, {entry["name"]: entry for entry in json.loads(result.stdout)}


def fingerprint(pem_file: Path) -> str:
    """SHA-256 (hex) of the certificate's DER, as the site and the probe compute it."""
    return x509.load_pem_x509_certificate(pem_file.read_bytes()).fingerprint(hashes.SHA256()).hex()


def stored_results(site: h.Site) -> dict[str, tuple[str, str]]:
    """The probe results in the site's database: name → (outcome, served fingerprint)."""
    out = site.manage("site_data", "probe-results")
    return {name: tuple(value) for name, value in json.loads(out.strip().splitlines()[-1]).items()}


def dashboard_rows(site: h.Site) -> dict[str, tuple[str, str, str | None]]:
    """What the dashboard shows per name (its rows, the code behind the page): verdict, urgency, served outcome."""
    out = site.manage("site_data", "dashboard-rows")
    return {name: tuple(value) for name, value in json.loads(out.strip().splitlines()[-1]).items()}


def served_expiry_metrics(site: h.Site) -> dict[str, int]:
    request = urllib.request.Request(
        f"{site.url}/.well-known/acme-challenge-metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r'acme_served_certificate_expiry_timestamp_seconds\{identifier="([^"]+)"\} (\d+)\n', text)
    return {name: int(value) for name, value in found}


def test_a_renewal_nginx_never_loaded_is_found_stale_until_nginx_reloads(
    site: h.Site, key: Path, certbot: h.Certbot, tmp_path: Path
) -> None:
    deploy = ["--deploy-hook", certbot.hook_line(DEPLOY_HOOK, hook_args(site, key))]
    issued = certbot.run(certbot.certonly_args([NAME, WWW], hook_args(site, key)) + deploy)
    assert issued.returncode == 0, f"certbot failed:\n{issued.stderr}\n{certbot.log()[-4000:]}"
    live = certbot.config_dir / "live" / NAME
    archive = certbot.config_dir / "archive" / NAME
    first = fingerprint(archive / "cert1.pem")

    nginx = h.Nginx(
        tmp_path / "nginx",
        backends=[],
        port=h.free_port(),
        location="location / { return 204; }",
        tls_port=h.free_port(),
        tls_certificate=live / "fullchain.pem",
        tls_key=live / "privkey.pem",
    )
    with h.running(nginx):
        assert nginx.tls_port is not None
        both = {NAME: nginx.tls_port, WWW: nginx.tls_port}
        code, found = probe(site, both)
        assert {name: entry["served"]["outcome"] for name, entry in found.items()} == {NAME: "ok", WWW: "ok"}
        assert found[NAME]["served"]["fingerprint"] == first == found[NAME]["certificate"]["fingerprint"]
        assert code == 0

        # certbot renews and reports; nobody reloads nginx, which keeps presenting the first certificate.
        renewed = certbot.renew("--force-renewal")
        assert renewed.returncode == 0, f"renewal failed:\n{renewed.stderr}\n{certbot.log()[-4000:]}"
        second = fingerprint(archive / "cert2.pem")
        assert nginx.presented() == first != second
        code, found = probe(site, both)
        for name in (NAME, WWW):
            assert found[name]["verdict"] == "ok"  # what was issued is fine...
            assert found[name]["certificate"]["fingerprint"] == second
            served = found[name]["served"]  # ...what is served is not
            assert served["outcome"] == "stale"
            assert served["fingerprint"] == first
            assert "reload the TLS terminator" in served["message"]
        assert code == 1
        assert stored_results(site) == {NAME: ("stale", first), WWW: ("stale", first)}
        assert dashboard_rows(site) == {NAME: ("ok", "late", "stale"), WWW: ("ok", "late", "stale")}

        nginx.reload()
        code, found = probe(site, both)
        assert {name: entry["served"]["outcome"] for name, entry in found.items()} == {NAME: "ok", WWW: "ok"}
        assert found[NAME]["served"]["fingerprint"] == second
        assert code == 0
        not_after = x509.load_pem_x509_certificate((archive / "cert2.pem").read_bytes()).not_valid_after_utc
        assert served_expiry_metrics(site) == {NAME: int(not_after.timestamp()), WWW: int(not_after.timestamp())}
        assert dashboard_rows(site) == {NAME: ("ok", "ok", "ok"), WWW: ("ok", "ok", "ok")}

        # The www name is dropped from the certificate, but its DNS still points at this nginx.
        shrunk = certbot.run(certbot.certonly_args([NAME], hook_args(site, key), cert_name=NAME) + deploy)
        assert shrunk.returncode == 0, f"certbot failed:\n{shrunk.stderr}\n{certbot.log()[-4000:]}"
        nginx.reload()
        code, found = probe(site, both)
        assert found[NAME]["served"]["outcome"] == "ok"
        assert found[WWW]["served"]["outcome"] == "name missing"
        assert found[WWW]["served"]["message"] == f"name not in the served certificate (it names {NAME})"
        assert code == 2
        assert dashboard_rows(site)[WWW] == ("ok", "expired", "name missing")

    # nginx is gone: its port refuses connections.
    code, found = probe(site, both)
    for name in (NAME, WWW):
        assert found[name]["served"]["outcome"] == "unreachable"
        assert found[name]["served"]["message"] == f"connection refused by 127.0.0.1:{nginx.tls_port}"
    assert code == 1
    assert served_expiry_metrics(site) == {}
