"""A throwaway PostgreSQL cluster, for the scale-out stories' shared database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .process import HarnessError, Process, ensure_port_free, port_open, wait_for


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster from Debian's binaries, on its own port, trusting local connections."""

    workdir: Path
    port: int = 5433
    database: str = "acme"
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    @staticmethod
    def bindir() -> Path:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions:
            raise HarnessError("PostgreSQL is not installed: run scripts/bootstrap --with-scaleout")
        return versions[-1].parent

    def _as_postgres(self) -> list[str]:
        # PostgreSQL refuses to run as root; Debian's package creates the 'postgres' user.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> Postgres:
        ensure_port_free(self.port, "PostgreSQL")
        # The data directory lives outside pytest's root-only temp dirs, so the postgres user can reach it.
        self.data = Path(tempfile.mkdtemp(prefix="acme-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        bindir = self.bindir()
        subprocess.run(
            [
                *self._as_postgres(),
                str(bindir / "initdb"),
                "-D",
                str(self.data / "db"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
        )
        self.process = Process(
            "postgres",
            [
                *self._as_postgres(),
                str(bindir / "postgres"),
                "-D",
                str(self.data / "db"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.data),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",
            ],
            self.workdir / "postgres.log",
        )
        wait_for("PostgreSQL", lambda: port_open(self.port), proc=self.process)
        psql = [str(bindir / "psql") if (bindir / "psql").exists() else "psql"]
        wait_for(
            "PostgreSQL accepting queries",
            lambda: (
                subprocess.run(
                    [
                        *psql,
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "-U",
                        "postgres",
                        "-c",
                        f"CREATE DATABASE {self.database}",
                    ],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ),
            proc=self.process,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGINT)  # fast shutdown
            self.process = None
        shutil.rmtree(getattr(self, "data", ""), ignore_errors=True)
