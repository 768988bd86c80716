"""Issue 11 through the built hooks against the example site: a key can do one thing, for its names.

Two users with two keys, a scoped key, a JWT captured by a server that is not the site and replayed to it, the
`Host` spellings a challenge is served for, a superuser's JWT against the admin, the allow-list, and the audit
trail they all leave. One site serves the whole module (its database accumulates the stories; each uses its own
tokens and names). No JWT is ever printed: captured tokens live in objects whose repr hides them, and response
texts pass through `redact()` before any failure message quotes them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest

import harness as h

API = "/.well-known/challenges/"
#: Names the site's ACME_CHALLENGE_ALLOWED_DOMAINS admits in this module.
ALLOWED = "*.example.com,::1"
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Text safe to show in a failure message: anything shaped like a JWT cut out."""
    return JWT_SHAPE.sub("<JWT removed>", text)


class Secret(str):
    """An Authorization header value: used as the string it is, shown (in a traceback's arguments) as redacted."""

    def __repr__(self) -> str:
        return "'<JWT removed>'"


@dataclass
class World:
    site: h.Site
    keys: dict[str, Path]
    workdir: Path


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    h.require_built_hooks(programs=())
    workdir = Path(tempfile.mkdtemp(prefix="acme-authorization-"))
    keys: dict[str, Path] = {}
    try:
        site = h.Site(workdir / "site", extra_env={"ACME_CHALLENGE_ALLOWED_DOMAINS": ALLOWED})
        with h.running(site):
            for user in ("alice", "bob", "root", "stranger"):
                keys[user] = workdir / f"{user}.key"
                public = h.keygen(keys[user])
                if user != "stranger":  # stranger's key is never registered
                    site.register_key(user, public)
            keys["scoped"] = workdir / "scoped.key"
            site.manage(
                "certbot_client",
                "scoped",
                "--public-key-file",
                str(h.keygen(keys["scoped"])),
                "--domain",
                "a.example.com",
            )
            yield World(site, keys, workdir)
    finally:
        for key in keys.values():  # private keys first, then everything else
            key.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class HookRun:
    returncode: int
    output: str  # stdout and stderr, as certbot would log them

    def __post_init__(self) -> None:
        assert "eyJ" not in self.output, "a JWT (or other base64 JSON) reached the hook's output"
        assert "PRIVATE KEY" not in self.output


def hook(
    binary: Path,
    world: World,
    user: str,
    env: dict[str, str],
    *extra: str,
    key: str | None = None,
    args: list[str] | None = None,
) -> HookRun:
    """Run a built hook as certbot would, as `user` with its key (or `key`'s), or with exactly `args`."""
    if args is None:
        args = h.hook_args(world.site, world.keys[key or user], *extra, username=user)
    result = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    return HookRun(result.returncode, result.stdout + result.stderr)


def request(
    site: h.Site,
    method: str,
    path: str,
    host: str | None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One raw HTTP request to the site with exactly this Host header (None: none at all)."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body or method in ("POST", "PUT"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read().decode(errors="replace"),
        )
    finally:
        connection.close()


def served(site: h.Site, token: str, host: str | None) -> tuple[int, str]:
    status, _, body = request(site, "GET", f"/.well-known/acme-challenge/{token}", host)
    return status, body if status == 200 else ""


def tokens_stored(site: h.Site) -> set[str]:
    return {token for _, token in site.challenge_rows()}


# --- two users, two keys ------------------------------------------------------------------------------------------


def test_another_users_push_of_a_token_is_409_naming_nobody_and_their_cleanup_leaves_it(world: World) -> None:
    site = world.site
    alice_env = h.certbot_env("alice.example.com")
    token = alice_env["CERTBOT_TOKEN"]
    bob_env = h.certbot_env("alice.example.com", token=token)  # same token, bob's own validation
    assert bob_env["CERTBOT_VALIDATION"] != alice_env["CERTBOT_VALIDATION"]

    pushed = hook(h.AUTH_HOOK, world, "alice", alice_env)
    assert pushed.returncode == 0, redact(pushed.output)
    assert served(site, token, "alice.example.com") == (200, alice_env["CERTBOT_VALIDATION"])

    stolen = hook(h.AUTH_HOOK, world, "bob", bob_env)
    assert stolen.returncode != 0
    # Issue 19: the answer no longer names the owner; the audit record names both.
    assert "409" in stolen.output and f"challenge {token} is held by another user" in stolen.output, redact(
        stolen.output
    )
    assert "alice" not in stolen.output
    assert [row["reason"] for row in audit_rows(site) if row["status"] == 409] == [
        f"challenge {token} belongs to user 'alice', not to 'bob'"
    ]
    assert served(site, token, "alice.example.com") == (200, alice_env["CERTBOT_VALIDATION"])

    bob_cleanup = hook(h.CLEANUP_HOOK, world, "bob", bob_env, "--verbose")
    assert bob_cleanup.returncode == 0, redact(bob_cleanup.output)
    assert f"challenge {token} was already gone (404)" in bob_cleanup.output, redact(bob_cleanup.output)
    assert served(site, token, "alice.example.com") == (200, alice_env["CERTBOT_VALIDATION"])
    assert token in tokens_stored(site)

    alice_cleanup = hook(h.CLEANUP_HOOK, world, "alice", alice_env, "--verbose")
    assert alice_cleanup.returncode == 0, redact(alice_cleanup.output)
    assert f"challenge {token} deleted" in alice_cleanup.output, redact(alice_cleanup.output)
    assert served(site, token, "alice.example.com")[0] == 404
    assert token not in tokens_stored(site)


def test_the_owner_may_push_its_token_again_and_it_is_replaced(world: World) -> None:
    first = h.certbot_env("again.example.com")
    second = h.certbot_env("again.example.com", token=first["CERTBOT_TOKEN"])

    assert hook(h.AUTH_HOOK, world, "alice", first).returncode == 0
    replaced = hook(h.AUTH_HOOK, world, "alice", second)

    assert replaced.returncode == 0, redact(replaced.output)
    assert served(world.site, first["CERTBOT_TOKEN"], "again.example.com") == (200, second["CERTBOT_VALIDATION"])
    assert hook(h.CLEANUP_HOOK, world, "alice", second).returncode == 0


# --- a scoped key, and the site-wide allow-list -------------------------------------------------------------------


def fingerprint_of(world: World, user: str) -> str:
    listed = world.site.manage("certbot_client", user, "--list-keys").strip().splitlines()
    assert len(listed) == 1, listed
    return listed[0].split()[0]


def test_a_scoped_key_pushes_inside_its_scope_and_is_403_outside_naming_key_and_scope(world: World) -> None:
    site = world.site
    inside, outside = h.certbot_env("a.example.com"), h.certbot_env("b.example.com")
    fingerprint = fingerprint_of(world, "scoped")
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint), fingerprint

    pushed = hook(h.AUTH_HOOK, world, "scoped", inside)
    assert pushed.returncode == 0, redact(pushed.output)
    assert served(site, inside["CERTBOT_TOKEN"], "a.example.com") == (200, inside["CERTBOT_VALIDATION"])

    refused = hook(h.AUTH_HOOK, world, "scoped", outside)
    assert refused.returncode != 0
    assert "403" in refused.output, redact(refused.output)
    assert f"domain: 'b.example.com' is outside the scope of key {fingerprint} (a.example.com)" in refused.output, (
        redact(refused.output)
    )
    assert outside["CERTBOT_TOKEN"] not in tokens_stored(site)

    # The scope and the last use (the refused push, the latest call) in --list-keys.
    listed = site.manage("certbot_client", "scoped", "--list-keys")
    assert f"{fingerprint}  ed25519" in listed.lower(), listed
    assert "scope: a.example.com  last used: " in listed, listed
    last_use = listed.split("last used: ", 1)[1]
    assert outside["CERTBOT_TOKEN"] in last_use and "403" in last_use and "127.0.0.1" in last_use, listed

    cleanup = hook(h.CLEANUP_HOOK, world, "scoped", inside)
    assert cleanup.returncode == 0, redact(cleanup.output)
    assert inside["CERTBOT_TOKEN"] not in tokens_stored(site)


def test_a_key_without_scope_is_still_held_to_the_sites_allow_list(world: World) -> None:
    env = h.certbot_env("alice.example.org")

    refused = hook(h.AUTH_HOOK, world, "alice", env)

    assert refused.returncode != 0
    assert "403" in refused.output and "ACME_CHALLENGE_ALLOWED_DOMAINS" in refused.output, redact(refused.output)
    assert "'alice.example.org' is not in ACME_CHALLENGE_ALLOWED_DOMAINS" in refused.output, redact(refused.output)
    assert env["CERTBOT_TOKEN"] not in tokens_stored(world.site)


# --- a captured JWT, replayed ---------------------------------------------------------------------------------------


@dataclass
class Captured:
    """One request the hook sent to the capture server. The Authorization header never shows in a repr."""

    method: str
    path: str
    host: str
    content_type: str
    body: bytes
    authorization: str = field(repr=False)

    def claims(self) -> dict[str, object]:
        token = self.authorization.removeprefix("JWT ")
        return jwt.decode(token, options={"verify_signature": False})


class CaptureServer:
    """A server that is not the site (a wrong --server, a proxy): it records each request and answers 201."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                captured.append(
                    Captured(
                        self.command,
                        self.path,
                        self.headers.get("Host", ""),
                        self.headers.get("Content-Type", ""),
                        body,
                        self.headers.get("Authorization", ""),
                    )
                )
                fields = urllib.parse.parse_qs(body.decode())
                answer = f"created {fields.get('challenge', [''])[0]}\n".encode()
                self.send_response(201)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: no request lines
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def audit_rows(site: h.Site) -> list[dict[str, object]]:
    """Every audit record, oldest first, as the database holds it."""
    out = site.manage("site_data", "audit")
    dump = out.strip().splitlines()[-1]
    assert "eyJ" not in dump, "an audit record holds a JWT"
    return json.loads(dump)


def test_a_jwt_captured_by_another_server_is_refused_elsewhere_and_with_another_body_and_works_once(
    world: World,
) -> None:
    site = world.site
    name = "replay.example.com"
    env = h.certbot_env(name)
    token = env["CERTBOT_TOKEN"]

    # The hook believes it talks to the real site's name; --resolve sends it to the capture server instead.
    with CaptureServer() as capture:
        args = [
            "--server",
            f"http://{name}:{capture.port}",
            "--username",
            "alice",
            "--key-file",
            str(world.keys["alice"]),
            "--resolve",
            f"{name}:127.0.0.1",
            "--no-self-check",
            "--timeout",
            "10",
        ]
        sent = hook(h.AUTH_HOOK, world, "alice", env, args=args)
    captured_at = time.monotonic()
    assert sent.returncode == 0, redact(sent.output)
    assert len(capture.requests) == 1, capture.requests
    stolen = capture.requests[0]
    assert stolen.authorization.startswith("JWT eyJ"), "the hook sent no JWT"
    claims = stolen.claims()
    assert claims["htm"] == "POST"
    assert claims["htu"] == f"http://{name}:{capture.port}{API}"
    assert claims["bsh"] == base64.urlsafe_b64encode(hashlib.sha256(stolen.body).digest()).rstrip(b"=").decode()
    assert not {"aud", "iss", "exp", "nbf", "iat"} & claims.keys()
    headers = {"Authorization": Secret(stolen.authorization), "Content-Type": stolen.content_type}
    audited = max((row["id"] for row in audit_rows(site)), default=0)
    bound_to = f"JWT is bound to POST http://{name}:{capture.port}{API} but this request is POST"

    # (a) The same body to another host, then to another path: 401 naming what the token is bound to.
    status, _, text = request(site, "POST", API, "other.example.com", stolen.body, headers)
    assert status == 401 and f"{bound_to} to host 'other.example.com' path '{API}'" in text, (status, redact(text))
    status, _, text = request(site, "POST", API.rstrip("/"), name, stolen.body, headers)
    assert status == 401 and f"{bound_to} to host '{name}' path '{API.rstrip('/')}'" in text, (status, redact(text))

    # (b) Another body (the attacker's own challenge) to the right host and path: 401, nothing stored.
    forged_env = h.certbot_env(name)
    forged = urllib.parse.urlencode(
        {"challenge": forged_env["CERTBOT_TOKEN"], "response": forged_env["CERTBOT_VALIDATION"], "domain": name}
    ).encode()
    status, _, text = request(site, "POST", API, name, forged, headers)
    assert status == 401 and text == "JWT body hash does not match the request body\n", (status, redact(text))
    stored = tokens_stored(site)
    assert forged_env["CERTBOT_TOKEN"] not in stored and token not in stored

    # (c) The exact request, to the real site under the name it was made for: it only repeats that request, once,
    # and only within the clock-skew tolerance. The refusals above did not spend its nonce.
    assert time.monotonic() - captured_at < 15, "too slow to test the verbatim replay within the 20 s tolerance"
    status, _, text = request(site, "POST", API, f"{name}:{site.port}", stolen.body, headers)
    assert (status, text) == (201, f"created {token}\n"), (status, redact(text))
    assert served(site, token, name) == (200, env["CERTBOT_VALIDATION"])
    status, headers_back, text = request(site, "POST", API, f"{name}:{site.port}", stolen.body, headers)
    assert status == 401 and headers_back.get("www-authenticate") == "JWT", (status, redact(text))
    assert "authentication required" in text, redact(text)

    # The audit trail says why each was refused, without the token.
    replays = [(row["status"], row["reason"]) for row in audit_rows(site) if row["id"] > audited]
    assert [status for status, _ in replays] == [401, 401, 401, 201, 401], replays
    assert "host 'other.example.com'" in replays[0][1] and "body hash" in replays[2][1], replays
    assert "nonce" in replays[4][1], replays

    assert hook(h.CLEANUP_HOOK, world, "alice", env).returncode == 0
    assert token not in tokens_stored(site)


# --- Host variants ---------------------------------------------------------------------------------------------------


def test_a_challenge_is_served_for_every_spelling_of_its_name_and_404_for_any_other_host(world: World) -> None:
    site = world.site
    env = h.certbot_env("Mixed.Example.com")
    token = env["CERTBOT_TOKEN"]

    pushed = hook(h.AUTH_HOOK, world, "alice", env)  # its self-check fetches http://Mixed.Example.com:5002/...

    assert pushed.returncode == 0, redact(pushed.output)
    assert site.challenge_rows().count(("mixed.example.com", token)) == 1
    for host in ("mixed.example.com", "MIXED.EXAMPLE.COM.", f"mixed.example.com:{site.port}", "Mixed.Example.Com:80"):
        assert served(site, token, host) == (200, env["CERTBOT_VALIDATION"]), host
    for host in ("other.example.com", "mixed.example.com.evil.test", f"127.0.0.1:{site.port}", "", None):
        status, _, text = request(site, "GET", f"/.well-known/acme-challenge/{token}", host)
        assert (status, text) == (404, "no such challenge\n"), host
    # The same 404 as a token that was never pushed.
    assert request(site, "GET", f"/.well-known/acme-challenge/{secrets.token_urlsafe(32)}", "mixed.example.com")[
        ::2
    ] == (404, "no such challenge\n")

    assert hook(h.CLEANUP_HOOK, world, "alice", env).returncode == 0
    assert served(site, token, "mixed.example.com")[0] == 404


def test_an_ipv6_literal_challenge_is_served_for_the_bracketed_host_only(world: World) -> None:
    site = world.site
    env = h.certbot_env("::1")
    token = env["CERTBOT_TOKEN"]

    # The site listens on 127.0.0.1 only, so the self-check (which would dial [::1]) is skipped.
    pushed = hook(h.AUTH_HOOK, world, "alice", env, "--no-self-check")

    assert pushed.returncode == 0, redact(pushed.output)
    assert ("::1", token) in site.challenge_rows()
    for host in ("[::1]", f"[::1]:{site.port}", "[0:0:0:0:0:0:0:1]"):
        assert served(site, token, host) == (200, env["CERTBOT_VALIDATION"]), host
    for host in ("::1", "[::2]", "127.0.0.1", "localhost"):
        assert served(site, token, host)[0] == 404, host

    assert hook(h.CLEANUP_HOOK, world, "alice", env).returncode == 0
    assert ("::1", token) not in site.challenge_rows()


# --- the admin, with a superuser's JWT -------------------------------------------------------------------------------


def user_count(site: h.Site) -> tuple[int, bool]:
    users = json.loads(site.manage("site_data", "users").strip().splitlines()[-1])
    return users["count"], "mallory" in users["usernames"]


def test_a_superusers_jwt_opens_no_admin_page_and_adds_no_user(world: World) -> None:
    site = world.site
    site.manage("site_data", "make-superuser", "root")
    host = f"127.0.0.1:{site.port}"
    before = user_count(site)
    assert before[1] is False

    # The same key works on the API: the JWT is good, only the admin ignores it.
    env = h.certbot_env("root.example.com")
    assert hook(h.AUTH_HOOK, world, "root", env).returncode == 0
    assert hook(h.CLEANUP_HOOK, world, "root", env).returncode == 0

    jwt_header = {
        "Authorization": Secret("JWT " + h.sign_request(world.keys["root"], "root", "GET", f"http://{host}/admin/"))
    }
    status, headers, text = request(site, "GET", "/admin/", host, headers=jwt_header)
    assert status == 302 and headers["location"] == "/admin/login/?next=/admin/", (status, redact(text))
    assert "Site administration" not in text

    # A valid CSRF cookie and token, so that only authentication stands in the way.
    csrf = secrets.token_hex(16)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "username": "mallory",
            "password1": "a long random password 83kd",
            "password2": "a long random password 83kd",
            "usable_password": "true",
        }
    ).encode()
    add_url = "/admin/auth/user/add/"
    post_headers = {
        "Authorization": Secret(
            "JWT " + h.sign_request(world.keys["root"], "root", "POST", f"http://{host}{add_url}", form)
        ),
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={csrf}",
    }
    status, headers, text = request(site, "POST", add_url, host, form, post_headers)
    assert status == 302 and headers["location"] == f"/admin/login/?next={add_url}", (status, redact(text))
    assert user_count(site) == before


# --- the audit trail -------------------------------------------------------------------------------------------------


def test_the_audit_trail_records_accepted_and_refused_calls_and_never_a_jwt(world: World) -> None:
    site = world.site
    ok, outside, unknown_key = (
        h.certbot_env(name) for name in ("audit.example.com", "audit.example.net", "x.example.com")
    )
    assert hook(h.AUTH_HOOK, world, "bob", ok).returncode == 0
    assert hook(h.CLEANUP_HOOK, world, "bob", ok).returncode == 0
    assert hook(h.AUTH_HOOK, world, "bob", outside).returncode != 0
    assert hook(h.AUTH_HOOK, world, "bob", unknown_key, key="stranger").returncode != 0
    bob_fingerprint = fingerprint_of(world, "bob")

    rows = audit_rows(site)  # fails if any record holds something shaped like a JWT
    for row in rows:
        del row["id"]
    # The module's earlier stories, when they ran: every kind of answer is there.
    statuses = {row["status"] for row in rows}
    assert {201, 204} <= statuses and 403 in statuses and 401 in statuses, sorted(statuses)

    def row_for(token: str, action: str) -> dict[str, object]:
        found = [row for row in rows if row["token"] == token and row["action"] == action]
        assert len(found) == 1, (token, action, found)
        return found[0]

    pushed = row_for(ok["CERTBOT_TOKEN"], "push")
    assert pushed == {
        "username": "bob",
        "key_fingerprint": bob_fingerprint,
        "action": "push",
        "token": ok["CERTBOT_TOKEN"],
        "domain": "audit.example.com",
        "remote_address": "127.0.0.1",
        "status": 201,
        "reason": f"created {ok['CERTBOT_TOKEN']}",
    }
    assert row_for(ok["CERTBOT_TOKEN"], "delete")["status"] == 204
    refused = row_for(outside["CERTBOT_TOKEN"], "push")
    assert (refused["status"], refused["username"], refused["domain"]) == (403, "bob", "audit.example.net")
    assert "ACME_CHALLENGE_ALLOWED_DOMAINS" in refused["reason"]
    # A key that is not registered: refused before anyone is known, and the precise reason is recorded.
    stranger = [
        row for row in rows if row["status"] == 401 and "signature matches no key of user 'bob'" in row["reason"]
    ]
    assert stranger and stranger[-1]["username"] == "" and stranger[-1]["key_fingerprint"] == "", stranger
