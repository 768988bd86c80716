"""The example site as deployed: real server processes (gunicorn with two workers, and runserver) on one SQLite
file. These are the properties one process cannot show: a replay refused across processes, concurrent writers on
SQLite, and what reaches the server's log. Run with each Django the app supports: .venv's and, when it is there,
.venv-django61's (moved here from server/tests, which run with the app alone).

No CA takes part, so these tests need no end-to-end lock."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import harness as h

SERVER_DIR = h.ROOT / "server"
START_TIMEOUT = 90
#: The interpreters whose Django runs the site: .venv's (Django 5.2), .venv-django61's when scripts/bootstrap made it.
PYTHONS = [venv for venv in (".venv", ".venv-django61") if (h.ROOT / venv / "bin" / "python").exists()]


@dataclass
class Site:
    """The example site on one SQLite file, served by gunicorn and by runserver at once."""

    nodes: dict[str, h.Site]
    #: The private key files of the user certbot (deleted when the module's site stops).
    ed25519_key: Path
    rsa_key: Path
    #: Every Authorization header sent, to look for in the logs afterwards.
    sent: list[str] = field(default_factory=list)

    @property
    def gunicorn(self) -> str:
        return self.nodes["gunicorn"].url

    @property
    def runserver(self) -> str:
        return self.nodes["runserver"].url

    @property
    def logs(self) -> list[Path]:
        return [node.process.log for node in self.nodes.values() if node.process is not None]

    def headers(self, method: str, url: str, body: bytes = b"", key: Path | None = None) -> dict[str, str]:
        """A fresh JWT bound to this request, as the hooks make it."""
        headers = {"Authorization": "JWT " + h.sign_request(key or self.ed25519_key, "certbot", method, url, body)}
        self.sent.append(headers["Authorization"])
        return headers

    def manage(self, *args: str) -> str:
        """manage.py with this interpreter; raises with its stderr if it fails."""
        return self.nodes["gunicorn"].manage(*args)


def _write_key(tmp: Path, name: str, key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> tuple[Path, Path]:
    private, public = tmp / f"{name}.key", tmp / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="module", params=PYTHONS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("live")
    env = {
        # Not the tests' own settings, which pytest-django put in this process's environment.
        "DJANGO_SETTINGS_MODULE": "django_site.settings",
        # The app from this source tree, under the interpreter running the tests (Django 5.2 or 6.1).
        "PYTHONPATH": os.pathsep.join([str(SERVER_DIR / "src"), str(h.SITE_DIR)]),
        # DEBUG everywhere, to show that the site's logging config still keeps JWTs out of the log.
        "DJANGO_LOG_LEVEL": "DEBUG",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    common = {
        "database_url": f"sqlite:///{tmp / 'db.sqlite3'}",
        "extra_env": env,
        "python": h.ROOT / request.param / "bin" / "python",
        "start_timeout": START_TIMEOUT,
    }
    nodes = {
        "gunicorn": h.Site(tmp, h.free_port(), server_args=("--access-logfile", "-"), **common),
        "runserver": h.Site(tmp, h.free_port(), server="runserver", **common),
    }
    ed25519_key, ed25519_public = _write_key(tmp, "ed25519", ed25519.Ed25519PrivateKey.generate())
    rsa_key, rsa_public = _write_key(tmp, "rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    site = Site(nodes, ed25519_key, rsa_key)
    try:
        with h.running(*nodes.values()):
            for public in (ed25519_public, rsa_public):
                site.manage("certbot_client", "certbot", "--public-key-file", str(public))
            yield site
    finally:
        h.delete_private_keys(tmp)


#: The name every challenge here is pushed for: the Host the tests fetch challenges with.
DOMAIN = "127.0.0.1"


def _body(token: str) -> bytes:
    return urlencode({"challenge": token, "response": f"{token}.thumbprint", "domain": DOMAIN}).encode()


def _push(
    site: Site, base: str, token: str, headers: dict[str, str] | None = None, key=None, body: bytes | None = None
) -> requests.Response:
    url = f"{base}/.well-known/challenges/"
    body = _body(token) if body is None else body
    headers = {
        **(headers if headers is not None else site.headers("POST", url, body, key)),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(url, data=body, headers=headers, timeout=60)


def _delete(site: Site, base: str, token: str, key=None) -> requests.Response:
    url = f"{base}/.well-known/challenges/{token}/"
    return requests.delete(url, headers=site.headers("DELETE", url, key=key), timeout=60)


def _all_at_once(calls: list) -> list:
    """Run the calls on threads released together by a barrier, so the requests really overlap."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_the_example_site_passes_its_system_checks(site: Site) -> None:
    site.manage("check", "--fail-level", "WARNING")


def test_a_challenge_pushed_to_one_process_is_served_by_the_other_then_deleted(site: Site) -> None:
    assert _push(site, site.gunicorn, "story-1").status_code == 201
    served = requests.get(f"{site.runserver}/.well-known/acme-challenge/story-1", timeout=10)
    assert served.status_code == 200
    assert served.text == "story-1.thumbprint"
    assert served.headers["Content-Type"] == "text/plain"
    assert served.headers["Cache-Control"] == "no-store"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    head = requests.head(f"{site.gunicorn}/.well-known/acme-challenge/story-1", timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert _delete(site, site.runserver, "story-1").status_code == 204
    for base in (site.gunicorn, site.runserver):
        assert requests.get(f"{base}/.well-known/acme-challenge/story-1", timeout=10).status_code == 404


def test_an_rsa_key_works_through_gunicorn_as_well(site: Site) -> None:
    assert _push(site, site.gunicorn, "story-rsa", key=site.rsa_key).status_code == 201
    assert _delete(site, site.gunicorn, "story-rsa", key=site.rsa_key).status_code == 204


def test_a_token_replayed_to_another_process_later_is_refused(site: Site) -> None:
    # The same request, byte for byte: the binding holds (the port is not compared), so only the nonce refuses it.
    headers = site.headers("POST", f"{site.gunicorn}/.well-known/challenges/", _body("replay-later"))
    assert _push(site, site.gunicorn, "replay-later", headers=headers).status_code == 201
    assert requests.delete(
        f"{site.gunicorn}/.well-known/acme-challenge/replay-later", timeout=10
    ).status_code == 405  # fmt: skip
    assert _delete(site, site.gunicorn, "replay-later").status_code == 204
    replay = _push(site, site.runserver, "replay-later", headers=headers)
    assert replay.status_code == 401
    assert replay.headers["WWW-Authenticate"] == "JWT"
    assert requests.get(f"{site.gunicorn}/.well-known/acme-challenge/replay-later", timeout=10).status_code == 404


def test_a_token_captured_and_sent_with_another_body_is_refused_naming_the_mismatch(site: Site) -> None:
    headers = site.headers("POST", f"{site.gunicorn}/.well-known/challenges/", _body("captured"))
    forged = _push(site, site.runserver, "forged", headers=headers)
    assert forged.status_code == 401
    assert forged.text == "JWT body hash does not match the request body\n"
    assert requests.get(f"{site.gunicorn}/.well-known/acme-challenge/forged", timeout=10).status_code == 404


@pytest.mark.parametrize("round_", range(5))
def test_one_token_sent_to_three_workers_in_two_processes_at_once_succeeds_exactly_once(site: Site, round_) -> None:
    # One request, byte for byte, to three places: the binding holds everywhere, so only the nonce decides.
    token = f"race-{round_}"
    headers = site.headers("POST", f"{site.gunicorn}/.well-known/challenges/", _body(token))
    targets = [site.gunicorn, site.gunicorn, site.runserver]
    responses = _all_at_once([lambda base=base: _push(site, base, token, headers=headers) for base in targets])
    assert sorted(r.status_code for r in responses) == [201, 401, 401]
    assert requests.get(f"{site.runserver}/.well-known/acme-challenge/{token}", timeout=10).status_code == 200


def test_twenty_simultaneous_writes_on_sqlite_all_succeed_and_are_served_by_both(site: Site) -> None:
    tokens = [f"burst-{i}" for i in range(20)]
    targets = [site.gunicorn if i % 2 else site.runserver for i in range(20)]
    headers = [
        site.headers("POST", f"{base}/.well-known/challenges/", _body(token))
        for base, token in zip(targets, tokens, strict=True)
    ]
    calls = [
        lambda base=base, token=token, h=h: _push(site, base, token, headers=h)
        for base, token, h in zip(targets, tokens, headers, strict=True)
    ]
    responses = _all_at_once(calls)
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    for base in (site.gunicorn, site.runserver):
        for token in tokens:
            assert requests.get(f"{base}/.well-known/acme-challenge/{token}", timeout=10).text == f"{token}.thumbprint"

    delete_headers = [
        site.headers("DELETE", f"{base}/.well-known/challenges/{token}/")
        for base, token in zip(targets, tokens, strict=True)
    ]
    deletes = [
        lambda base=base, token=token, h=h: requests.delete(
            f"{base}/.well-known/challenges/{token}/", headers=h, timeout=60
        )
        for base, token, h in zip(targets, tokens, delete_headers, strict=True)
    ]
    assert [r.status_code for r in _all_at_once(deletes)] == [204] * 20


def test_bad_credentials_and_odd_paths_never_get_a_500_from_a_real_server(site: Site) -> None:
    for base in (site.gunicorn, site.runserver):
        for header in ("JWT garbage", "JWT eyJhbGciOiJSUzUxMiJ9.WzEsIDJd.c2ln", "JWT eyJhbGciOiJub25lIn0.e30."):
            site.sent.append(header)
            assert _push(site, base, "odd", headers={"Authorization": header}).status_code == 401
        for path in ("acme-challenge/a.b", "acme-challenge/x/", "challenges/a.b/", "acme-challenge/%00"):
            response = requests.get(f"{base}/.well-known/{path}", allow_redirects=False, timeout=10)
            assert response.status_code == 404, path
        slashless = requests.post(f"{base}/.well-known/challenges", allow_redirects=False, timeout=10)
        assert slashless.status_code == 401


def test_no_jwt_reaches_the_server_logs(site: Site) -> None:
    # Runs last in this module: by now both servers have accepted, refused and replayed tokens at DEBUG level.
    assert len(site.sent) > 50
    text = "\n".join(log.read_text(errors="replace") for log in site.logs)
    assert "Unauthorized: /.well-known/challenges/" in text, "the servers logged nothing; this test would prove nothing"
    for header in site.sent:
        token = header.split(" ", 1)[1]
        for part in token.split("."):
            if len(part) > 8:
                assert part not in text
