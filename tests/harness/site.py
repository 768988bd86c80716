"""The example Django site (examples/django_site) served by gunicorn or runserver, on SQLite or any DATABASE_URL."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .paths import HTTP01_PORT, PYTHON, SITE_DIR
from .process import Process, ensure_port_free, run_checked, start_server

_sqlite_template: Path | None = None


def _migrated_sqlite_template() -> Path:
    """A migrated, empty SQLite database of the example site, made once per process."""
    global _sqlite_template
    if _sqlite_template is None:
        directory = Path(tempfile.mkdtemp(prefix="acme-site-template-"))
        atexit.register(shutil.rmtree, directory, True)
        template = directory / "site.sqlite3"
        Site(directory, database_url=f"sqlite:///{template}").manage("migrate", "--noinput")
        # Leave no write-ahead log behind: the copy must hold everything.
        sqlite3.connect(template).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        _sqlite_template = template
    return _sqlite_template


@dataclass
class Site:
    """The example Django site served by gunicorn (or Django's runserver), on its own database."""

    workdir: Path
    port: int = HTTP01_PORT
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    process: Process | None = None
    #: The interpreter that runs manage.py and the server: .venv's, or the one running the caller (server/tests).
    python: Path = PYTHON
    #: "gunicorn" (workers and threads) or "runserver" (one process, Django's own server).
    server: str = "gunicorn"
    #: More command-line options for the server, e.g. ``("--access-logfile", "-")`` for gunicorn.
    server_args: Sequence[str] = ()
    start_timeout: float = 30.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_ALLOWED_HOSTS="*",
            DATABASE_URL=self.database_url or f"sqlite:///{self.workdir / 'site.sqlite3'}",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, input: str | None = None) -> str:
        return run_checked(
            f"manage.py {' '.join(args)}",
            [str(self.python), "manage.py", *args],
            cwd=SITE_DIR,
            env=self.env(),
            input=input,
        )

    def start(self) -> Site:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ensure_port_free(self.port, "example site")
        sqlite_file = self.workdir / "site.sqlite3"
        if self.database_url is None and not sqlite_file.exists():
            # A fresh SQLite site starts from a copy of one migrated database: migrating costs ~2 s a site.
            shutil.copyfile(_migrated_sqlite_template(), sqlite_file)
        else:
            self.manage("migrate", "--noinput")
        if self.server == "runserver":
            command = [str(self.python), "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]
        else:
            command = [
                str(self.python), "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), "--threads", "4", "--graceful-timeout", "2", "django_site.wsgi",
            ]  # fmt: skip
        self.process = start_server(
            f"example site ({self.server}) on port {self.port}",
            [*command, *self.server_args],
            self.workdir / f"site-{self.port}.log",
            f"{self.url}/healthz",
            env=self.env(),
            cwd=SITE_DIR,
            timeout=self.start_timeout,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def register_key(self, username: str, public_key_file: Path) -> str:
        return self.manage("certbot_client", username, "--public-key-file", str(public_key_file))

    def challenge_rows(self) -> list[tuple[str, str]]:
        """(domain, token) of every stored challenge, read straight from the database through Django."""
        out = self.manage("site_data", "challenges")
        return [(domain, token) for domain, token in json.loads(out.strip().splitlines()[-1])]
