"""Issue 19, end to end: the site's certificate records are evidence. certbot and Pebble issue alice a real
certificate, the built deploy-hook reports it (the chain, which the site verifies to Pebble's root, read from Pebble's
management interface at this start), and the site's status follows it through a renewal. Then the attacks: bob
reports alice's real certificate, bob and carol report certificates signed by a key of their own under the very
issuer name Pebble uses, carol one dated 2098; each is refused, and alice's record and status do not change. A real
certificate carol obtains for the one name her key covers is a record of hers; alice's stays as it was.

The forged requests are signed as the hooks sign (request-bound JWTs), with the attackers' registered keys: what
makes them fail is the evidence, not the authentication."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

import harness as h
from harness import hook_args

DEPLOY_HOOK = h.ROOT / "target" / "release" / "deploy-hook"
REPORTS = "/.well-known/certificates/"
ALICE = ["evidence.example.com", "www.evidence.example.com"]
CAROLS = "www.evidence.example.com"  # the one name of alice's that carol's key may speak for
BOBS = "bob.example.com"


@pytest.fixture
def site(tmp_path: Path, pebble: h.Pebble) -> Iterator[h.Site]:
    roots = pebble.write_root(tmp_path / "pebble-root.pem")
    s = h.Site(tmp_path / "site", extra_env={"ACME_CHALLENGE_TRUST_ROOTS": str(roots)})
    with h.running(s):
        yield s


@pytest.fixture
def keys(tmp_path: Path, site: h.Site) -> Iterator[dict[str, Path]]:
    """alice's key scoped to her two names, bob's to his, carol's to one of alice's."""
    scopes = {"alice": ALICE, "bob": [BOBS], "carol": [CAROLS]}
    made: dict[str, Path] = {}
    try:
        for user, names in scopes.items():
            made[user] = tmp_path / f"{user}.key"
            public = h.keygen(made[user])
            site.manage("certbot_client", user, "--public-key-file", str(public), *[f"--domain={n}" for n in names])
        yield made
    finally:
        for key in made.values():  # keys first
            key.unlink(missing_ok=True)


def status(site: h.Site) -> dict[str, dict]:
    result = subprocess.run(
        [str(h.PYTHON), "manage.py", "acme_challenge_status", "--json"],
        cwd=h.SITE_DIR, env=site.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1, 2), result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


def records(site: h.Site) -> list[dict]:
    """Every certificate record, as the database holds it."""
    out = site.manage("site_data", "certificates")
    return json.loads(out.strip().splitlines()[-1])


def issue(certbot: h.Certbot, site: h.Site, key: Path, user: str, names: list[str]) -> Path:
    """certbot certonly with the auth, cleanup and deploy hooks, as ``user``; the live fullchain.pem."""
    args = hook_args(site, key, username=user)
    result = certbot.run(certbot.certonly_args(names, args) + ["--deploy-hook", certbot.hook_line(DEPLOY_HOOK, args)])
    assert result.returncode == 0, f"certbot failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
    return certbot.config_dir / "live" / names[0] / "fullchain.pem"


def post_report(site: h.Site, key: Path, user: str, chain: str) -> tuple[int, str]:
    url = site.url + REPORTS
    body = json.dumps({"chain": chain, "lineage": "forged"}).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": "JWT " + h.sign_request(key, user, "POST", url, body),
    }
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def forged_chain(genuine_fullchain: Path, names: list[str], not_before: datetime, days: int) -> str:
    """A leaf for ``names`` and an intermediate with exactly the subject of Pebble's intermediate in
    ``genuine_fullchain``, made with keys of the forger's own."""
    pebble_intermediate = x509.load_pem_x509_certificates(genuine_fullchain.read_bytes())[1]
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    intermediate = (
        x509.CertificateBuilder().subject_name(pebble_intermediate.subject).issuer_name(pebble_intermediate.issuer)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC)).not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(pebble_intermediate.subject)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, intermediate))


def fingerprint(fullchain: Path) -> str:
    return x509.load_pem_x509_certificates(fullchain.read_bytes())[0].fingerprint(hashes.SHA256()).hex()


def test_the_deploy_hook_records_the_real_certificate_and_the_status_follows_a_renewal(
    site: h.Site, keys: dict[str, Path], certbot: h.Certbot
) -> None:
    fullchain = issue(certbot, site, keys["alice"], "alice", ALICE)
    first = fingerprint(fullchain)
    found = status(site)
    for name in ALICE:
        certificate = found[name]["certificate"]
        assert (certificate["fingerprint"], certificate["reported_by"], certificate["verified"]) == (
            first, "alice", True,
        )  # fmt: skip
        assert found[name]["verdict"] == "ok"

    renewed = certbot.renew("--force-renewal")
    assert renewed.returncode == 0, f"certbot renew failed:\n{renewed.stderr}\n{certbot.log()[-4000:]}"
    second = fingerprint(fullchain)
    assert second != first
    found = status(site)
    assert {found[name]["certificate"]["fingerprint"] for name in ALICE} == {second}
    assert [(row["fingerprint"], row["username"]) for row in records(site)] == [(first, "alice"), (second, "alice")]


def test_forged_and_hijacked_reports_are_refused_and_alices_record_stays(
    site: h.Site, keys: dict[str, Path], certbot: h.Certbot
) -> None:
    fullchain = issue(certbot, site, keys["alice"], "alice", ALICE)
    before, status_before = records(site), status(site)
    assert [(row["username"], row["verified"]) for row in before] == [("alice", True)]

    # bob posts alice's real certificate (before issue 19 her fingerprint and his not_after were enough).
    code, text = post_report(site, keys["bob"], "bob", fullchain.read_text())
    assert code == 403, text
    assert f"name: '{ALICE[0]}' is outside the scope of key" in text

    # Certificates signed by the forgers' own key under Pebble's intermediate's name: for bob's own name, valid
    # until 2099, and for the name carol's key covers, dated 2098.
    now = datetime.now(UTC).replace(microsecond=0)
    for user, names, start, days in (
        ("bob", [BOBS], now - timedelta(hours=1), 365 * 73),
        ("carol", [CAROLS], now - timedelta(hours=1), 365 * 73),
        ("carol", [CAROLS], datetime(2098, 1, 1, tzinfo=UTC), 365),
    ):
        code, text = post_report(site, keys[user], user, forged_chain(fullchain, names, start, days))
        assert code in (400, 403), text
        assert "does not chain to a root this site trusts" in text or "not valid until 2098" in text, text

    assert records(site) == before
    after = status(site)
    for name in ALICE:
        assert after[name]["certificate"] == status_before[name]["certificate"]
        assert after[name]["verdict"] == "ok"
    assert BOBS not in after

    # A real certificate carol obtains for her one name is a record of carol's; alice's does not change.
    carols = issue(certbot, site, keys["carol"], "carol", [CAROLS])
    now_records = records(site)
    assert now_records[0] == before[0]
    assert [(row["username"], row["fingerprint"]) for row in now_records[1:]] == [("carol", fingerprint(carols))]
    assert status(site)[ALICE[0]]["certificate"] == status_before[ALICE[0]]["certificate"]
