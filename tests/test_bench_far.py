"""The benchmark's delay line (scripts/bench_far.py), which makes P4's site far away: it must add its delay to every
round trip and to connection set-up, without capping throughput, and stop. Loopback only, no Pebble: a few seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import harness as h

DELAY = 0.025  # one way, as P4 uses


def _load_bench_far() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_far", h.ROOT / "scripts" / "bench_far.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_far"] = module
    spec.loader.exec_module(module)
    return module


bench_far = _load_bench_far()


class _Echo(socketserver.BaseRequestHandler):
    """Echoes every chunk back at once; counts its connections."""

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Digest(socketserver.BaseRequestHandler):
    """Reads to end of stream, then answers with the SHA-256 of what it read."""

    def handle(self) -> None:
        digest = hashlib.sha256()
        while data := self.request.recv(65536):
            digest.update(data)
        self.request.sendall(digest.digest())


@pytest.fixture
def echo() -> Iterator[socketserver.ThreadingTCPServer]:
    yield from _serve(_Echo)


@pytest.fixture
def digest() -> Iterator[socketserver.ThreadingTCPServer]:
    yield from _serve(_Digest)


def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.connections = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def line() -> Iterator[Any]:
    with bench_far.DelayLine(DELAY) as running:
        yield running


def test_each_round_trip_costs_two_delays_and_a_new_connection_one_more(line, echo) -> None:
    port = line.listen(echo.server_address[1])
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"first")
        assert sock.recv(16) == b"first"
        first = time.perf_counter() - start
        round_trips = []
        for i in range(3):
            sent = time.perf_counter()
            sock.sendall(b"again %d" % i)
            assert sock.recv(16) == b"again %d" % i
            round_trips.append(time.perf_counter() - sent)
    # The server saw one connection, and every answer came through it: nothing was short-circuited.
    assert echo.connections == 1
    assert min(round_trips) >= 2 * DELAY, round_trips
    assert max(round_trips) < 2 * DELAY + 0.2, round_trips  # a delay, not a stall (generous: a busy 2-core box)
    # connect() returned at once, so the proxy charged the handshake's round trip on the first bytes.
    assert first >= 4 * DELAY, first


def test_throughput_is_not_capped_one_mebibyte_passes_in_far_less_than_a_delay_per_chunk(line, digest) -> None:
    port = line.listen(digest.server_address[1])
    payload = bytes(range(256)) * 4096  # 1 MiB
    chunk = 16 * 1024
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for offset in range(0, len(payload), chunk):
            sock.sendall(payload[offset : offset + chunk])
        sock.shutdown(socket.SHUT_WR)  # the end of stream travels the line too, after the data
        answer = b""
        while data := sock.recv(64):
            answer += data
    elapsed = time.perf_counter() - start
    assert answer == hashlib.sha256(payload).digest()  # every byte, in order
    chunks = len(payload) // chunk
    # A sleep per read would need at least chunks x one delay (64 x 25 ms = 1.6 s) and a round trip per chunk
    # 3.2 s; the line needs the handshake and one round trip, plus the copying.
    assert elapsed >= 4 * DELAY, elapsed
    assert elapsed < chunks * DELAY / 4, elapsed


def test_later_connections_follow_a_new_route(line, echo, digest) -> None:
    port = line.listen(digest.server_address[1])
    line.route(port, echo.server_address[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
    assert echo.connections == 1


def test_it_stops_when_told_and_by_itself_after_its_lifetime(echo) -> None:
    with bench_far.DelayLine(DELAY) as told:
        port = told.listen(echo.server_address[1])
        assert h.port_open(port)
    assert not told.running
    assert not h.port_open(port)

    short = bench_far.DelayLine(DELAY, lifetime=0.5).start()
    port = short.listen(echo.server_address[1])
    deadline = time.monotonic() + 5
    while short.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not short.running
    assert not h.port_open(port)
    short.stop()


def test_only_loopback_addresses_are_accepted() -> None:
    with pytest.raises(ValueError, match="not a loopback address: use 127.0.0.1"):
        bench_far.DelayLine(DELAY, host="0.0.0.0")
    with pytest.raises(ValueError, match="not a loopback address"):
        bench_far.DelayLine(DELAY, host="localhost")
