"""Issue 19, end to end: the auth hook's self-check never reaches inside the certbot host through a redirect.

Each story runs the release auth-hook against the example site, nginx and (for rebinding) pebble-challtestsrv inside a
network namespace of its own, with the "public" addresses bound to that namespace's `lo` and its own /etc/hosts,
/etc/resolv.conf and /etc/nsswitch.conf bind-mounted in a private mount namespace: no traffic leaves the machine and
the host's files are untouched. tests/redirect_guard_scenario.py plays the story and prints what the access logs and
the DNS query log show; the assertions here are on those counts.

The "public" addresses are IANA's example.com ones (93.184.215.14 and .15), not the TEST-NET ranges: the CA's rules
count TEST-NET as reserved, so a redirect there is refused for that alone and would prove nothing. Inside the
namespace they exist only on `lo`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import harness as h

SCENARIO = Path(__file__).with_name("redirect_guard_scenario.py")
START, PUBLIC, PRIVATE = "93.184.215.14", "93.184.215.15", "127.0.0.9"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare -n -m (network and mount namespaces)")


def in_namespace(work: Path, mode: str, hosts: str, resolv: str) -> dict:
    """Run the scenario in a new network and mount namespace; its JSON result."""
    h.require_built_hooks(programs=("nginx", "pebble-challtestsrv", "unshare", "ip"))
    work.mkdir(parents=True)
    for name, text in (("hosts", hosts), ("resolv.conf", resolv), ("nsswitch.conf", "hosts: files dns\n")):
        (work / name).write_text(text)
    setup = " && ".join(
        [
            "ip link set lo up",
            f"ip addr add {START}/32 dev lo",
            f"ip addr add {PUBLIC}/32 dev lo",
            *(f"mount --bind {work / name} /etc/{name}" for name in ("hosts", "resolv.conf", "nsswitch.conf")),
            f"exec {h.PYTHON} {SCENARIO} {mode} {work}",
        ]
    )
    done = subprocess.run(
        ["unshare", "-n", "-m", "sh", "-c", setup], capture_output=True, text=True, timeout=240, check=False
    )
    (work / "certbot.key").unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_redirect_to_a_name_with_a_public_and_a_loopback_address_is_refused_before_any_connection(
    tmp_path: Path,
) -> None:
    hosts = (
        "127.0.0.1 localhost\n"
        f"{START} start.example.net\n"
        # Nothing listens on the public one: a client that skips to the next address reaches the loopback service.
        f"{PUBLIC} mixed.example.net\n"
        f"{PRIVATE} mixed.example.net\n"
    )
    seen = in_namespace(tmp_path / "mixed", "mixed", hosts, "nameserver 127.0.0.1\n")
    assert seen["lookup"] == [PRIVATE, PUBLIC], "the name has both addresses"
    assert seen["exit"] == 1, seen["stderr"]
    assert seen["start_requests"] >= 1, "the check fetched the public site and was redirected"
    assert seen["private_requests"] == 0, f"the loopback service was reached:\n{seen['stderr']}"


def test_rebinding_between_the_check_and_the_connection_never_reaches_an_unvetted_address(tmp_path: Path) -> None:
    # challtestsrv (127.0.0.1:53) is the only nameserver that answers; the first one is silent, so every lookup takes
    # 1 s and the scenario's flip of the record is in place before any later query.
    resolv = "nameserver 127.0.0.2\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
    seen = in_namespace(tmp_path / "rebinding", "rebinding", "127.0.0.1 localhost\n", resolv)
    attempts = seen["start_requests"]
    assert attempts >= 2, seen["stderr"]
    assert seen["exit"] == 1, seen["stderr"]
    # One lookup of the start host for the whole check, one of the redirect target per attempt.
    assert seen["start_a_queries"] == 1
    assert seen["rebind_a_queries"] == attempts
    # The record did change between lookups, yet only the public answers were connected to, each once.
    answers = seen["answers"]
    assert PRIVATE in answers and PUBLIC in answers, answers
    assert seen["public_requests"] == answers.count(PUBLIC)
    assert seen["private_requests"] == 0, f"the loopback service was reached:\n{seen['stderr']}"
