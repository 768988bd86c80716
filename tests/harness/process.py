"""Child processes in their own process groups, with their output in a log file; waiting for them to be ready;
free ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol


class HarnessError(RuntimeError):
    """A part of the chain could not be started or driven. ``str()`` says which, why, and what to run; for a process
    that died, the end of its log follows. scripts/demo prints it instead of a traceback."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(
    what: str, check: Callable[[], object], timeout: float = 30.0, proc: subprocess.Popen[str] | Process | None = None
) -> None:
    """Poll `check()` until it returns truthy; fail with `what` if it never does or `proc` dies.

    For a `Process`, the failure quotes the end of its log, which is where the reason is.
    """
    popen = proc.proc if isinstance(proc, Process) else proc

    def failure(problem: str) -> HarnessError:
        log = f"\nlast lines of {proc.log}:\n{proc.tail()}" if isinstance(proc, Process) else ""
        return HarnessError(f"{what}: {problem}{log}")

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            raise failure(f"process exited with status {popen.returncode}")
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.1)
    raise failure(f"not ready after {timeout:.0f} s (last error: {last})")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def ensure_port_free(port: int, what: str) -> None:
    if port_open(port):
        raise HarnessError(f"{what}: port {port} is already in use on 127.0.0.1; stop whatever listens there")


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, name: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ):
        self.name = name
        self.log = log
        self._log_fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(args),
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_fh.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Service(Protocol):
    """What :func:`running` starts and stops: Pebble, the site, nginx, PostgreSQL, ..."""

    def start(self) -> object: ...

    def stop(self) -> object: ...


@contextlib.contextmanager
def running(*services: Service) -> Iterator[None]:
    """Start services in order and stop them in reverse, whatever happens in between."""
    started = []
    try:
        for s in services:
            s.start()
            started.append(s)
        yield
    finally:
        for s in reversed(started):
            s.stop()


def run_checked(what: str, args: Sequence[str], *, cwd: Path, env: dict[str, str], input: str | None = None) -> str:
    """Run a command to completion and return its stdout; if it fails, :class:`HarnessError` with its stderr."""
    result = subprocess.run(list(args), check=False, cwd=cwd, env=env, capture_output=True, text=True, input=input)
    if result.returncode != 0:
        raise HarnessError(f"{what} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def start_server(
    what: str, args: Sequence[str], log: Path, ready_url: str, *, env: dict[str, str], cwd: Path, timeout: float = 30.0
) -> Process:
    """Start an HTTP server and wait until ``ready_url`` answers 200; stopped again if it never does."""
    process = Process(what, args, log, env=env, cwd=cwd)
    try:
        wait_for(
            what, lambda: urllib.request.urlopen(ready_url, timeout=1).status == 200, timeout=timeout, proc=process
        )
    except BaseException:
        process.stop()
        raise
    return process
