"""The benchmark's P4, a site far away: a delay line (a TCP proxy on loopback that adds a fixed one-way delay), the
site's front (nginx: TLS for the API, plain HTTP for the CA's fetches, a static server for certbot --webroot) and the
private CA its certificate comes from.

This machine's kernel has no netem, so the distance is made in user space. Each chunk read from one side is
forwarded to the other side `delay` seconds after it arrived, through a timed queue per direction: chunks in flight
overlap, so throughput is not capped (a sleep per read would cap it at one chunk per delay), and a request and its
answer cost one round trip (2 x delay). The kernel completes the client's TCP handshake with the proxy at once, so
the proxy charges the handshake's round trip instead: the first bytes from the client leave no earlier than
2 x delay after the connection was accepted, plus their own delay, as if connect() had taken its round trip.

Bounded: at most `max_connections` at a time (more are closed at once), at most `QUEUE_CHUNKS` chunks of
`CHUNK` bytes queued per direction (then the reader waits, which is TCP's back-pressure), loopback addresses only,
and it stops by itself after `lifetime` seconds. It runs its own asyncio loop in a daemon thread, so the caller's
process stays free to wait for certbot, and it dies with that process.

    with DelayLine(delay=0.025) as line:
        port = line.listen(target_port=8443)          # a free port; or line.listen(8443, listen_port=5002)
        line.route(port, 8080)                        # later connections go elsewhere (P4 swaps sites)

Run by hand: ``python scripts/bench_far.py --listen 5002 --to 8080 --delay-ms 25``.

The front is one nginx for both sides of the comparison, so each side's HTTP-01 server is equally warm: P4 points
the delay line on Pebble's HTTP-01 port at the site's server block or at the static one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import ipaddress
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness as h
from harness import nginx

#: Bytes read at a time from either side.
CHUNK = 64 * 1024
#: Chunks queued per direction before the reader waits: 16 MiB in flight, far above what 50 ms needs here.
QUEUE_CHUNKS = 256


def _loopback(host: str, what: str) -> str:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"delay line: {what} {host!r} is not a loopback address: use 127.0.0.1 (or ::1)")
    return host


class DelayLine:
    """Listening ports on loopback, each forwarding to a target port on loopback through a delay line."""

    def __init__(
        self,
        delay: float,
        *,
        host: str = "127.0.0.1",
        lifetime: float = 3600.0,
        max_connections: int = 512,
    ) -> None:
        if not 0 <= delay <= 10:
            raise ValueError(f"delay line: a one-way delay of {delay} s is out of range: give 0 to 10 s")
        self.delay = delay
        self.host = _loopback(host, "address")
        self.lifetime = lifetime
        self.max_connections = max_connections
        self.routes: dict[int, int] = {}  # listening port -> target port, read at each accept
        self.connections = 0  # open now
        self.accepted = 0  # since start
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = threading.Event()

    # The caller's side (any thread).

    def start(self) -> DelayLine:
        self._thread = threading.Thread(target=self._run, name="delay-line", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> DelayLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def listen(self, target_port: int, listen_port: int = 0) -> int:
        """Start forwarding `listen_port` (0: a free one) to `target_port`; returns the port, already listening."""
        if self._thread is None or self._stopped.is_set():
            raise RuntimeError("delay line: not running (call start() first)")
        return self._call(self._listen(target_port, listen_port))

    def route(self, listen_port: int, target_port: int) -> None:
        """Send connections accepted from now on at `listen_port` to `target_port`; open ones stay where they are."""
        if listen_port not in self.routes:
            raise KeyError(f"delay line: not listening on port {listen_port}")
        self.routes[listen_port] = target_port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Close the listening ports and every open connection; returns when the loop's thread has ended."""
        if self._thread is None:
            return
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have ended on its own (lifetime)
                self._loop.call_soon_threadsafe(self._stopped.set)
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("delay line: its thread did not end within 10 s")

    def _call(self, coroutine: Coroutine[Any, Any, int]) -> int:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # The loop's side.

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_later(self.lifetime, self._loop.stop)
        try:
            self._loop.run_forever()
        finally:
            self._stopped.set()
            for server in self._servers:
                server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                self._loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _listen(self, target_port: int, listen_port: int) -> int:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, listen_port))
        except OSError as error:
            sock.close()
            raise RuntimeError(f"delay line: cannot listen on {self.host}:{listen_port}: {error}") from None
        port: int = sock.getsockname()[1]
        self.routes[port] = target_port
        server = await asyncio.start_server(
            lambda r, w: self._accepted(port, r, w), sock=sock, backlog=self.max_connections
        )
        self._servers.append(server)
        return port

    def _accepted(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The moment the proxy took the connection: the client thinks its handshake is done now, so its
        # first bytes are held back by the round trip that handshake would have cost.
        accepted = self._loop.time()
        self.accepted += 1
        if self.connections >= self.max_connections:
            writer.transport.abort()
            return
        self.connections += 1
        task = self._loop.create_task(self._connection(self.routes[port], accepted, reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(
        self, target_port: int, accepted: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, target_port)
            except OSError:
                writer.transport.abort()  # the far side refuses: so does the near one (a reset)
                return
            for w in (writer, up_writer):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            directions = [
                self._loop.create_task(self._direction(reader, up_writer, accepted + 2 * self.delay)),
                self._loop.create_task(self._direction(up_reader, writer, accepted)),
            ]
            failed = True
            try:
                results = await asyncio.gather(*directions, return_exceptions=True)
                failed = any(isinstance(r, BaseException) for r in results)
            finally:
                for d in directions:
                    d.cancel()
                for w in (writer, up_writer):
                    if failed:
                        w.transport.abort()  # a reset either side is passed on as a reset
                    else:
                        w.close()
        finally:
            self.connections -= 1

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float) -> None:
        """One way: a reader that stamps each chunk with its release time, a writer that sends it then."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=QUEUE_CHUNKS)

        async def receive() -> None:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data = b""
                await queue.put((max(self._loop.time(), not_before) + self.delay, data))
                if not data:
                    return

        async def send() -> None:
            while True:
                release, data = await queue.get()
                wait = release - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:  # end of stream, delayed like the data before it
                    if writer.can_write_eof() and not writer.is_closing():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        receiving = self._loop.create_task(receive())
        try:
            await send()
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving


def round_trip_ms(port: int, host: str = "127.0.0.1", payload: bytes = b"GET / HTTP/1.0\r\n\r\n") -> float:
    """Milliseconds from connect() to the first byte of the answer: what one new connection costs through the line."""
    start = time.perf_counter()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(payload)
        if not sock.recv(1):
            raise RuntimeError(f"delay line: 127.0.0.1:{port} closed without an answer")
    return (time.perf_counter() - start) * 1000


@dataclass(frozen=True)
class Tls:
    """A private CA's certificate (what the hooks trust, ``--ca-bundle``) and a server certificate it signed."""

    ca: Path
    certificate: Path
    key: Path

    @classmethod
    def made_in(cls, directory: Path, names: tuple[str, ...] = ("localhost",), address: str = "127.0.0.1") -> Tls:
        """A fresh P-256 CA and a server certificate for `names` and `address`, valid for a day; the keys owner-only,
        and the CA's key never written (nothing else will be signed)."""
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scripts/bench P4 private CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # keyCertSign, cRLSign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt_names.append(x509.IPAddress(ipaddress.ip_address(address)))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        tls = cls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
        tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        tls.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tls.key.touch(mode=0o600)
        tls.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return tls

    def remove(self) -> None:
        """The key first, then the certificates."""
        for path in (self.key, self.certificate, self.ca):
            path.unlink(missing_ok=True)


@dataclass
class Front:
    """nginx from Debian in front of the site, as a real site runs it: the API over TLS (``https_port``) and plain
    HTTP (``http_port``) for the CA's fetches, both proxied to gunicorn at ``site_port``; beside them a static server
    (``static_port``) on ``webroot``, the floor for HTTP-01 that certbot --webroot uses. The TLS server's access log
    (``api_log``: connection serial, method, status per line) counts the hooks' requests and connections."""

    workdir: Path
    site_port: int
    webroot: Path
    tls: Tls
    http_port: int = 0
    https_port: int = 0
    static_port: int = 0
    process: h.Process | None = None

    @property
    def api_log(self) -> Path:
        return self.workdir / "api-access.log"

    def start(self) -> Front:
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        self.http_port, self.https_port, self.static_port = (p or h.free_port() for p in self.ports())
        # $http_host, not $host: the API's request-binding claims name the host the hook sent, port included.
        proxy = f"proxy_pass http://127.0.0.1:{self.site_port}; proxy_set_header Host $http_host;"
        (w / "nginx.conf").write_text(
            nginx.config(
                w,
                f"""
    log_format api '$connection $request_method $status';
    server {{
        listen 127.0.0.1:{self.https_port} ssl;
        ssl_certificate {self.tls.certificate};
        ssl_certificate_key {self.tls.key};
        ssl_protocols TLSv1.2 TLSv1.3;  # nginx before 1.23.4 (Debian 12's 1.22) leaves TLS 1.3 out by default
        access_log {self.api_log} api;
        location / {{ {proxy} proxy_set_header X-Forwarded-Proto https; }}
    }}
    server {{
        listen 127.0.0.1:{self.http_port};
        location / {{ {proxy} }}
    }}
    server {{
        listen 127.0.0.1:{self.static_port};
        location / {{ root {self.webroot}; }}
    }}""",
            )
        )
        self.process = nginx.process("nginx (P4 front)", w)
        for port in (self.https_port, self.http_port, self.static_port):
            h.wait_for(f"nginx (P4 front) on port {port}", functools.partial(h.port_open, port), proc=self.process)
        return self

    def ports(self) -> tuple[int, int, int]:
        return self.http_port, self.https_port, self.static_port

    def api_requests(self) -> list[tuple[str, str, str]]:
        """(connection, method, status) of every request the TLS server answered so far, in order."""
        if not self.api_log.exists():
            return []
        return [tuple(line.split(" ", 2)) for line in self.api_log.read_text().splitlines()]  # type: ignore[misc]

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGQUIT)
            self.process = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="port to listen on, on 127.0.0.1")
    parser.add_argument("--to", type=int, required=True, help="port on 127.0.0.1 to forward to")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (default 25)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long (default 3600)")
    args = parser.parse_args(argv)
    line = DelayLine(args.delay_ms / 1000, lifetime=args.seconds).start()
    port = line.listen(args.to, args.listen)
    print(f"127.0.0.1:{port} -> 127.0.0.1:{args.to}, {args.delay_ms:g} ms each way", file=sys.stderr, flush=True)
    try:
        while line.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    line.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
