"""One attack on the auth hook's self-check, played inside a network and mount namespace of its own.

Run by tests/test_redirect_guard.py as ``unshare -n -m sh -c '<setup>; exec python this.py MODE WORKDIR'``: the
namespace's `lo` carries the "public" addresses, and /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf are the
scenario's own (bind mounts that only this mount namespace sees), so no traffic leaves the machine and the host's
files stay as they are. It prints one JSON object (what the servers' access logs and the DNS server's query log
show, and the hook's exit status); the test asserts on that.

The parts are real: the example site (the API the hook pushes to), nginx (the public site that redirects, the public
redirect target, and a private service on the certbot host's loopback, each with its own access log) and, for the
rebinding mode, pebble-challtestsrv as the only DNS server that answers (its query log is its management API's
/dns-request-history).

Modes:
* ``mixed``: start.example.net (public) redirects to mixed.example.net, which /etc/hosts gives one public address
  (nothing listens there: a client that skips it falls back to the next) and one loopback address (the private
  service).
* ``rebinding``: start.example.net redirects to rebind.example.net, whose A record flips between the public target
  and the private service after every query. A silent first nameserver delays every lookup by 1 s, so the flip is
  in place before any second lookup could reach challtestsrv: a client that looks a name up again to connect gets
  the other answer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import harness as h

START = "93.184.215.14"  # the public site that redirects, bound to lo inside the namespace
PUBLIC = "93.184.215.15"  # the public redirect target
PRIVATE = "127.0.0.9"  # a service on the certbot host's loopback
DNS_MGMT = "http://127.0.0.1:8055"


def nginx_conf(work: Path, target: str, public_listens: bool) -> str:
    public = (
        f"""
    server {{
        listen {PUBLIC}:80;
        access_log {work}/public.log counted;
        location / {{ return 404 "not here\\n"; }}
    }}"""
        if public_listens
        else ""
    )
    return f"""
worker_processes 1;
user root root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format counted '$server_addr $host "$request" $status';
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen {START}:80;
        access_log {work}/start.log counted;
        location / {{ return 302 http://{target}$request_uri; }}
    }}{public}
    server {{
        listen {PRIVATE}:80;
        access_log {work}/private.log counted;
        location / {{ return 200 "secret of the loopback service\\n"; }}
    }}
}}
"""


def requests_in(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def management(path: str, body: dict) -> bytes:
    request = urllib.request.Request(f"{DNS_MGMT}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.read()


def a_queries(name: str) -> int:
    history = json.loads(management("/dns-request-history", {"host": name}) or b"[]")
    return sum(1 for entry in history if entry["Question"]["Qtype"] == 1)


def set_a(name: str, address: str) -> None:
    management("/clear-a", {"host": name})
    management("/add-a", {"host": name, "addresses": [address]})


def silent_nameserver() -> socket.socket:
    """A nameserver that reads queries and never answers: the resolver waits its 1 s timeout, then asks the next."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", 53))

    def drain() -> None:
        while True:
            try:
                sock.recv(512)
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    return sock


def start_nginx(work: Path, target: str, public_listens: bool) -> h.Process:
    (work / "nginx.conf").write_text(nginx_conf(work, target, public_listens))
    args = ["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-g", "daemon off;"]
    nginx = h.Process("nginx", args, work / "nginx.log")
    h.wait_for("nginx", lambda: h.port_open(80, START), proc=nginx)
    return nginx


def run_hook(hook: Path, site: h.Site, key: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    args = [
        "--server",
        site.url,  # a literal loopback address: no lookup
        "--username",
        "certbot",
        "--key-file",
        str(key),
        "--self-check-url",
        "http://{domain}/.well-known/acme-challenge/{token}",
        "--timeout",
        str(timeout),
    ]
    env = h.certbot_env("start.example.net")
    return subprocess.run([str(hook), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def mixed(work: Path, hook: Path, site: h.Site, key: Path) -> dict[str, object]:
    nginx = start_nginx(work, "mixed.example.net", public_listens=False)
    try:
        out = run_hook(hook, site, key, timeout=4)
    finally:
        nginx.stop()
    return {"out": out, "lookup": sorted({info[4][0] for info in socket.getaddrinfo("mixed.example.net", 80)})}


def rebinding(work: Path, hook: Path, site: h.Site, key: Path) -> dict[str, object]:
    quiet = silent_nameserver()
    dns = h.Process(
        "pebble-challtestsrv",
        [
            "pebble-challtestsrv", "-dns01", "127.0.0.1:53", "-management", "127.0.0.1:8055",
            "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", "",
        ],
        work / "challtestsrv.log",
    )  # fmt: skip
    answers: list[str] = []
    stop = threading.Event()

    def flip() -> None:
        """After every A query for rebind.example.net, the next one gets the other address."""
        current, seen = PUBLIC, 0
        while not stop.is_set():
            now = a_queries("rebind.example.net")
            while seen < now:
                seen += 1
                answers.append(current)
                current = PRIVATE if current == PUBLIC else PUBLIC
                set_a("rebind.example.net", current)
            time.sleep(0.02)

    try:
        h.wait_for("pebble-challtestsrv", lambda: h.port_open(8055), proc=dns)
        nginx = start_nginx(work, "rebind.example.net", public_listens=True)
        try:
            set_a("start.example.net", START)
            set_a("rebind.example.net", PUBLIC)
            watcher = threading.Thread(target=flip, daemon=True)
            watcher.start()
            out = run_hook(hook, site, key, timeout=10)
            time.sleep(0.2)
            stop.set()
            watcher.join(5)
        finally:
            nginx.stop()
        return {
            "out": out,
            "start_a_queries": a_queries("start.example.net"),
            "rebind_a_queries": a_queries("rebind.example.net"),
            "answers": answers,
            "public_requests": requests_in(work / "public.log"),
        }
    finally:
        stop.set()
        dns.stop()
        quiet.close()


def main(mode: str, work: Path, hook: Path) -> dict[str, object]:
    site = h.Site(work / "site", port=8000, workers=1)
    key = work / "certbot.key"
    try:
        with h.running(site):
            site.register_key("certbot", h.keygen(key))
            result = (mixed if mode == "mixed" else rebinding)(work, hook, site, key)
    finally:
        key.unlink(missing_ok=True)
    out = result.pop("out")
    assert isinstance(out, subprocess.CompletedProcess)
    result.update(
        exit=out.returncode,
        stderr=out.stderr,
        start_requests=requests_in(work / "start.log"),
        private_requests=requests_in(work / "private.log"),
    )
    return result


if __name__ == "__main__":
    # REDIRECT_GUARD_HOOK runs another build of auth-hook (an older one, to see the attack succeed).
    mode, work = sys.argv[1], Path(sys.argv[2])
    hook = Path(os.environ.get("REDIRECT_GUARD_HOOK", str(h.AUTH_HOOK)))
    print(json.dumps(main(mode, work, hook)))
