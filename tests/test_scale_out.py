"""Scale-out: two gunicorn nodes of the example site on one PostgreSQL, behind nginx on Pebble's HTTP-01 port.

The reason challenges live in the database: whichever node received one, every node serves it, and
certbot need not run on any of them.
"""

from __future__ import annotations

import concurrent.futures
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness as h
from harness import hook_args, run_hook

NODE_PORTS = (6001, 6002)


@dataclass
class Cluster:
    postgres: h.Postgres
    nodes: list[h.Site]
    balancer: h.Nginx
    key: Path

    def hook_args(self, *extra: str) -> list[str]:
        # The balancer stands where the site would: the API and the self-check both go through it.
        return hook_args(self.balancer, self.key, *extra)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("cluster")
    postgres = h.Postgres(work / "pg")
    (work / "pg").mkdir()
    nodes = [h.Site(work / f"node{p}", port=p, database_url=postgres.url, workers=2) for p in NODE_PORTS]
    balancer = h.Nginx(work / "nginx", backends=NODE_PORTS, api_failover=False)
    with h.running(postgres, *nodes, balancer):
        key = work / "certbot.key"
        nodes[0].register_key("certbot", h.keygen(key))
        yield Cluster(postgres, nodes, balancer, key)


def fetch(url: str, host: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"Host": host, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def served_by(node: h.Site, domain: str, token: str) -> tuple[int, str]:
    return fetch(f"{node.url}/.well-known/acme-challenge/{token}", domain)


def test_a_challenge_pushed_through_the_balancer_is_served_by_every_node(cluster: Cluster) -> None:
    env = h.certbot_env("lb.example.com")

    auth = run_hook(h.AUTH_HOOK, cluster.hook_args(), env)

    assert auth.returncode == 0, auth.stderr
    for node in cluster.nodes:
        assert served_by(node, "lb.example.com", env["CERTBOT_TOKEN"]) == (200, env["CERTBOT_VALIDATION"])
    assert run_hook(h.CLEANUP_HOOK, cluster.hook_args(), env).returncode == 0
    for node in cluster.nodes:
        assert served_by(node, "lb.example.com", env["CERTBOT_TOKEN"])[0] == 404


def signed_header(key: Path, method: str, url: str, body: bytes = b"") -> str:
    """An Authorization header bound to one request (htm, htu, bsh), signed with asymmetric_jwt_auth's key and
    nonce, as the hooks sign theirs."""
    script = (
        "import base64, hashlib, sys, time, jwt; from django.conf import settings; settings.configure(); "
        "from asymmetric_jwt_auth.keys import PrivateKey; from asymmetric_jwt_auth.nonce import get_nonce_backend; "
        "key = PrivateKey.load_pem(open(sys.argv[1], 'rb').read()); "
        "bsh = base64.urlsafe_b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).rstrip(b'=').decode(); "
        "claims = {'username': 'certbot', 'time': int(time.time()), 'nonce': get_nonce_backend().generate_nonce(), "
        "'htm': sys.argv[2], 'htu': sys.argv[3], 'bsh': bsh}; "
        "print('JWT ' + jwt.encode(claims, key.as_pem, algorithm=key.public_key.allowed_algorithms[0], "
        "headers={'kid': key.public_key.fingerprint}))"
    )
    return (
        subprocess.run(
            [str(h.PYTHON), "-c", script, str(key), method, url], input=body, check=True, capture_output=True
        )
        .stdout.decode()
        .strip()
    )


def test_a_jwt_replayed_to_the_other_node_is_refused(cluster: Cluster) -> None:
    token = "replay" + "A" * 20
    body = urllib.parse.urlencode(
        {"challenge": token, "response": f"{token}.{'B' * 43}", "domain": "replay.example.com"}
    ).encode()
    # Bound to the name both nodes are reached by, so only the nonce can refuse the replay.
    header = signed_header(cluster.key, "POST", "http://replay.example.com/.well-known/challenges/", body)
    first, second = cluster.nodes

    created = fetch(f"{first.url}/.well-known/challenges/", "replay.example.com", {"Authorization": header}, body)
    replayed = fetch(f"{second.url}/.well-known/challenges/", "replay.example.com", {"Authorization": header}, body)

    assert created[0] == 201, created
    assert replayed[0] == 401, replayed
    delete = urllib.request.Request(
        f"{first.url}/.well-known/challenges/{token}/",
        method="DELETE",
        headers={
            "Host": "replay.example.com",
            "Authorization": signed_header(
                cluster.key, "DELETE", f"http://replay.example.com/.well-known/challenges/{token}/"
            ),
        },
    )
    with urllib.request.urlopen(delete, timeout=10) as r:
        assert r.status == 204


def test_twenty_hook_runs_at_once_all_succeed_and_every_node_serves_every_challenge(cluster: Cluster) -> None:
    envs = [h.certbot_env(f"burst{i}.example.com") for i in range(20)]

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda env: run_hook(h.AUTH_HOOK, cluster.hook_args(), env), envs))

    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    for env in envs:
        for node in cluster.nodes:
            assert served_by(node, env["CERTBOT_DOMAIN"], env["CERTBOT_TOKEN"]) == (200, env["CERTBOT_VALIDATION"])
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        cleanups = list(pool.map(lambda env: run_hook(h.CLEANUP_HOOK, cluster.hook_args(), env), envs))
    assert [r.returncode for r in cleanups] == [0] * 20


def test_certbot_gets_a_ten_domain_certificate_through_the_balancer(
    cluster: Cluster, pebble: h.Pebble, tmp_path: Path
) -> None:
    certbot = h.Certbot(tmp_path / "certbot", pebble)
    domains = [f"n{i}.cluster.example.com" for i in range(10)]

    result = certbot.certonly(domains, cluster.hook_args())

    assert result.returncode == 0, f"{result.stderr}\n{certbot.log()[-4000:]}"
    assert sorted(h.cert_info(certbot.live_cert(domains[0]))["names"].split(",")) == sorted(domains)
    assert cluster.nodes[0].challenge_rows() == []


def test_one_node_dying_mid_run_does_not_stop_certbot(cluster: Cluster, pebble: h.Pebble, tmp_path: Path) -> None:
    certbot = h.Certbot(tmp_path / "certbot", pebble)
    domains = [f"d{i}.failover.example.com" for i in range(6)]
    victim = cluster.nodes[1]
    before = len(cluster.balancer.api_requests())
    # One request per challenge (--no-batch): five pushes and six deletes after the kill, so round robin
    # sends some to the dead node. A batch makes two API calls, and nginx may send neither there.
    proc = certbot.start(certbot.certonly_args(domains, cluster.hook_args("-v", "--no-batch")))
    try:
        h.wait_for(
            "the first challenge stored", lambda: len(cluster.nodes[0].challenge_rows()) >= 1, timeout=60, proc=proc
        )
        # nginx answers 502 for the API requests it sends to the dead node, and does not replay them on
        # the live one (api_failover=False): only the hooks' retries can carry the run.
        victim.process.stop(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        victim.start()

    assert proc.returncode == 0, f"{err}\n{certbot.log()[-4000:]}"
    assert certbot.live_cert(domains[0]).exists()
    requests = cluster.balancer.api_requests()[before:]
    failed = [r for r in requests if r[2] == 502]
    assert failed, f"no API request reached the dead node: the test proved nothing ({requests})"
    # Every push stored once, and each 502 retried: a push and a delete per name, plus one request per 502.
    assert sum(1 for r in requests if r[0] == "POST" and r[2] == 201) == len(domains), requests
    assert len(requests) == 2 * len(domains) + len(failed), requests
    assert cluster.nodes[0].challenge_rows() == []
