"""Issue 13 end to end: readiness the CA will agree with, and no validation burnt on a broken setup.

Real certbot and Pebble, the example site, the release hooks. A "node with its own database" is a second example
site process on its own SQLite file: the API stores the challenge in the shared database, so that node answers 404,
as a node that was not migrated or points at the wrong database would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h
from harness import hook_args, legacy


def quick_args(site: h.Site, key: Path, *extra: str) -> list[str]:
    """conftest's hook options with a 6 s --timeout: a broken setup fails fast."""
    args = hook_args(site, key, *extra)
    args[args.index("--timeout") + 1] = "6"
    return args


def node(tmp_path: Path, name: str, database_url: str | None = None) -> h.Site:
    """Another example site process on a free port: on `database_url`, or on a database of its own."""
    return h.Site(tmp_path / name, port=h.free_port(), database_url=database_url, workers=1)


@pytest.fixture
def lonely_node(tmp_path: Path) -> Iterator[h.Site]:
    """An app server with its own database: it never has the challenges the API stores."""
    s = node(tmp_path, "lonely")
    with h.running(s):
        yield s


@pytest.fixture
def shared_nodes(tmp_path: Path) -> Iterator[tuple[h.Site, h.Site]]:
    """Two app servers on one SQLite database, as two nodes behind a balancer on one database."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = node(tmp_path, "node1", url), node(tmp_path, "node2", url)
    with h.running(first, second):
        yield first, second


def check(site: h.Site, key: Path, domain: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(h.AUTH_HOOK), "check", "--domain", domain, *quick_args(site, key, *extra)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_nodes_on_one_database_pass_and_a_third_with_its_own_is_named(
    shared_nodes: tuple[h.Site, h.Site], lonely_node: h.Site, tmp_path: Path
) -> None:
    first, second = shared_nodes
    key = tmp_path / "certbot.key"
    first.register_key("certbot", h.keygen(key))
    nodes = ["--self-check-node", f"127.0.0.1:{second.port}"]
    lonely = f"127.0.0.1:{lonely_node.port}"

    ok = check(first, key, "nodes.example.com", *nodes)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "  via 127.0.0.1 (IPv4): served (" in ok.stdout
    assert f"  via node 127.0.0.1:{second.port}: served (" in ok.stdout

    broken = check(first, key, "nodes.example.com", *nodes, "--self-check-node", lonely)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    line = next(line for line in broken.stdout.splitlines() if line.startswith("self-check: "))
    assert f"via node {lonely}: 404 Not Found" in line, line
    assert f"node 127.0.0.1:{second.port}" not in line, line
    assert "delete: ok (probe removed)" in broken.stdout
    assert first.challenge_rows() == []


def test_an_ip_address_certificate_through_the_hooks(site: h.Site, key: Path, certbot: h.Certbot) -> None:
    """Debian's Pebble 2.4 validates and issues for an IP address identifier (SAN IP:127.0.0.1), but it also puts
    the address in the subject CN, which certbot 5.8 then reads as a DNS name and refuses ("is an IP address")
    after it has saved the certificate. The hooks' part, validation through them, is what this checks."""
    result = certbot.run(
        certbot.base_args()
        + [
            "certonly",
            "--manual",
            "--preferred-challenges",
            "http",
            "--manual-auth-hook",
            certbot.hook_line(h.AUTH_HOOK, hook_args(site, key)),
            "--manual-cleanup-hook",
            certbot.hook_line(h.CLEANUP_HOOK, hook_args(site, key)),
            "--cert-name",
            "ip-127-0-0-1",
            "--ip-address",
            "127.0.0.1",
        ]
    )
    output = result.stdout + result.stderr
    assert "for 127.0.0.1 stored at http://127.0.0.1:5002/ and served" in output, output
    assert "via 127.0.0.1 (IPv4): served" in output
    cert = certbot.live_cert("ip-127-0-0-1").with_name("cert.pem")
    assert cert.exists(), output + certbot.log()[-3000:]
    san = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "IP Address:127.0.0.1" in san, san
    if result.returncode != 0:
        # certbot's own limit, not the hooks': see the docstring.
        assert "Requested name 127.0.0.1 is an IP address" in output, output
    assert site.challenge_rows() == []


CERTBOT_RELEASES = ["current", "1.32"]


@pytest.fixture(params=CERTBOT_RELEASES)
def any_certbot(request: pytest.FixtureRequest, tmp_path: Path, pebble: h.Pebble) -> h.Certbot:
    """certbot as the project pins it, and the oldest release supported: 1.32 (no CERTBOT_IDENTIFIER yet)."""
    if request.param == "current":
        return h.Certbot(tmp_path / "certbot", pebble)
    legacy.ensure_venv(legacy.CLIENT, log=lambda _: None)
    return h.Certbot(tmp_path / "certbot", pebble, program=legacy.CLIENT.bin("certbot"))


def test_the_oldest_and_the_current_certbot_issue_and_renew(site: h.Site, key: Path, any_certbot: h.Certbot) -> None:
    """Their stop on a broken setup, started four ways, is in tests/test_fail_closed.py."""
    certbot = any_certbot
    domain = "releases.example.com"
    issued = certbot.certonly([domain], hook_args(site, key))
    assert issued.returncode == 0, issued.stdout + issued.stderr + certbot.log()[-3000:]
    first = h.cert_info(certbot.live_cert(domain))["serial"]

    renewed = certbot.renew("--force-renewal")
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr + certbot.log()[-3000:]
    assert h.cert_info(certbot.live_cert(domain))["serial"] != first
    assert site.challenge_rows() == []
