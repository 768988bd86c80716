"""The README's set-up snippets and every command the hooks and the site advise, run as written.

A fresh `django-admin startproject` (the .venv's Django) gets the README's settings.py and urls.py blocks appended
and its manage.py block run, exactly as they stand in README.md (between `<!-- snippet:NAME -->` markers, so a change
there changes what runs here). The project then runs under `runserver` with `DEBUG = False` and an `ALLOWED_HOSTS`
that holds only the API's host, and the real auth hook pushes a challenge and self-checks it: with the README's
fast-path middleware it is served for a name outside `ALLOWED_HOSTS`, without it Django answers 400, which is what the
README's ALLOWED_HOSTS section says.

Then the advice: each refusal is produced for real (an unregistered key, a user without the permission, a key whose
scope lacks the name), the command it advises is taken from the message and run, and the hook is run again and
succeeds. The commands the hooks' source words in advice.rs and api.rs run against the same site too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import harness as h
from harness.process import Process, free_port, port_open, wait_for

README = h.ROOT / "README.md"
ALLOWED_HOST = "127.0.0.1"


def snippet(name: str) -> str:
    """The code block after `<!-- snippet:NAME -->` in README.md."""
    found = re.search(rf"<!-- snippet:{re.escape(name)} -->\n```\w*\n(.*?)```\n", README.read_text(), re.S)
    assert found, f"README.md lost its <!-- snippet:{name} --> block"
    return found.group(1)


@dataclass
class Project:
    """A `django-admin startproject` with the README's snippets, served by runserver on a port of its own."""

    directory: Path
    port: int
    server: Process | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CERTBOT_"))}
        # `python` and `auth-hook` as the README writes them: the .venv's Python, the release hooks.
        env["PATH"] = f"{h.VENV / 'bin'}:{h.AUTH_HOOK.parent}:{env['PATH']}"
        return env

    def sh(self, script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd or self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def dumpdata(self, model: str) -> list[dict[str, Any]]:
        """The rows of `model` as Django's `dumpdata` reads them from the database, foreign keys by natural key: what
        the commands under test stored, read by Django itself (no Python source passed as a string)."""
        result = self.sh(f"python manage.py dumpdata {model} --natural-foreign")
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    def user(self, username: str) -> dict[str, Any]:
        [user] = [row for row in self.dumpdata("auth.user") if row["fields"]["username"] == username]
        return user

    def loaddata(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` back with Django's `loaddata`, from a fixture file in the project."""
        fixture = self.directory / "scene.json"
        fixture.write_text(json.dumps(rows))
        result = self.sh(f"python manage.py loaddata {fixture}")
        fixture.unlink()
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> None:
        log = self.directory / "runserver.log"
        self.server = Process(
            "the startproject site",
            [str(h.PYTHON), "manage.py", "runserver", "--noreload", f"{ALLOWED_HOST}:{self.port}"],
            log,
            env=self.env(),
            cwd=self.directory,
        )
        wait_for("the startproject site", lambda: port_open(self.port), proc=self.server)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def fetch(self, host: str, token: str) -> tuple[int, str]:
        """The CA's GET of a challenge, with the Host the CA sends."""
        request = urllib.request.Request(
            f"http://{ALLOWED_HOST}:{self.port}/.well-known/acme-challenge/{token}", headers={"Host": host}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def hook(self, key: Path, domain: str, username: str = "certbot") -> tuple[subprocess.CompletedProcess[str], str]:
        """The auth hook as certbot runs it, against this site; returns its result and the validation it pushed."""
        env = h.certbot_env(domain)
        env["PATH"] = self.env()["PATH"]
        args = [
            "--server", f"http://{ALLOWED_HOST}:{self.port}", "--username", username, "--key-file", str(key),
            "--self-check-url", f"http://{{domain}}:{self.port}/.well-known/acme-challenge/{{token}}",
            "--resolve", f"*:{ALLOWED_HOST}", "--timeout", "10", "--on-failure", "exit",
        ]  # fmt: skip
        return h.run_hook(h.AUTH_HOOK, args, env), env["CERTBOT_VALIDATION"]


def make_project(root: Path, *, fast_path: bool) -> Project:
    directory = root / "site"
    directory.mkdir()
    subprocess.run([str(h.VENV / "bin" / "django-admin"), "startproject", "mysite", str(directory)], check=True)
    settings_snippet = snippet("settings.py")
    if not fast_path:
        # The README calls the middleware line optional: the site without it.
        settings_snippet = "\n".join(
            line for line in settings_snippet.splitlines() if "ServeChallengesFirstMiddleware" not in line
        )
    with open(directory / "mysite" / "settings.py", "a") as settings:
        settings.write("\n" + settings_snippet + "\n")
        # Production-like, as the README's ALLOWED_HOSTS section assumes: only the API's host is allowed.
        settings.write(f"\nDEBUG = False\nALLOWED_HOSTS = [{ALLOWED_HOST!r}]\n")
    with open(directory / "mysite" / "urls.py", "a") as urls:
        urls.write("\n" + snippet("urls.py"))
    return Project(directory, free_port())


@pytest.fixture
def key(tmp_path: Path) -> Iterator[Path]:
    key_file = tmp_path / "keys" / "key.pem"
    key_file.parent.mkdir(mode=0o700)
    yield key_file
    key_file.unlink(missing_ok=True)


@pytest.fixture(params=[True, False], ids=["with-fast-path", "without-fast-path"])
def project(request: pytest.FixtureRequest, tmp_path: Path, key: Path) -> Iterator[Project]:
    h.require_built_hooks(programs=())
    site = make_project(tmp_path, fast_path=request.param)
    # The README's keygen line, with this test's key path, writing certbot.pub where the manage.py block reads it.
    keygen = site.sh(f"auth-hook keygen --key-file {key} > certbot.pub")
    assert keygen.returncode == 0, keygen.stderr
    manage = site.sh(snippet("manage.py"))
    assert manage.returncode == 0, manage.stdout + manage.stderr
    assert "System check identified no issues" in manage.stdout, manage.stdout
    site.start()
    try:
        yield site
    finally:
        site.stop()
        shutil.rmtree(site.directory)


def test_the_readme_snippets_make_a_fresh_project_that_serves_a_challenge(project: Project, key: Path) -> None:
    # certbot_client as the README shows it: the user, its two permissions, the key with its scope, in the database.
    user = project.user("certbot")
    permissions = sorted(codename for codename, _app, _model in user["fields"]["user_permissions"])
    assert permissions == ["add_certificatereport", "add_challenge", "delete_challenge"], user
    keys = [row for row in project.dumpdata("asymmetric_jwt_auth.publickey") if row["fields"]["user"] == ["certbot"]]
    assert len(keys) == 1, keys

    fast_path = "ServeChallengesFirstMiddleware" in (project.directory / "mysite" / "settings.py").read_text()
    result, validation = project.hook(key, "www.example.com")
    token = validation.split(".")[0]
    rows = [row for row in project.dumpdata("acme_challenge.challenge") if row["fields"]["token"] == token]
    assert len(rows) == 1, "the push did not store the challenge"
    status, body = project.fetch("www.example.com", token)
    if fast_path:
        # www.example.com is not in ALLOWED_HOSTS: the middleware answers before Django's host check.
        assert result.returncode == 0, result.stderr
        assert (status, body.strip()) == (200, validation)
    else:
        # Without it, CommonMiddleware refuses a Host outside ALLOWED_HOSTS, and the hook's self-check says so.
        assert status == 400, (status, body)
        assert result.returncode != 0 and "400 Bad Request" in result.stderr, result.stderr


def quoted_commands(text: str) -> list[str]:
    """The commands a message advises, in single quotes: `'python manage.py ...'`, `'auth-hook ...'`."""
    return re.findall(r"'((?:python manage\.py|auth-hook|cleanup-hook) [^']*)'", text)


@pytest.mark.parametrize("project", [True], ids=["with-fast-path"], indirect=True)
def test_every_command_a_refusal_advises_runs_as_written_and_fixes_it(
    project: Project, key: Path, tmp_path: Path
) -> None:
    def served(username: str, domain: str, hook_key: Path) -> subprocess.CompletedProcess[str]:
        result, validation = project.hook(hook_key, domain, username)
        if result.returncode == 0:
            assert project.fetch(domain, validation.split(".")[0]) == (200, validation)
        return result

    # 1. A key the site does not know: 401, and the two commands that register it.
    other_key = tmp_path / "keys" / "other.pem"
    subprocess.run([str(h.AUTH_HOOK), "keygen", "--key-file", str(other_key)], check=True, capture_output=True)
    refused = served("certbot", "example.com", other_key)
    assert "401 Unauthorized" in refused.stderr, refused.stderr
    advised = quoted_commands(refused.stderr)
    assert [c.split(" --")[0] for c in advised] == ["auth-hook public-key", "python manage.py certbot_client certbot"]
    # On the certbot host (KEY stands for the key's path), then on the site with the file copied there.
    on_host = project.sh(advised[0].replace("KEY", str(other_key)), cwd=tmp_path)
    assert on_host.returncode == 0, on_host.stderr
    shutil.copy(tmp_path / "certbot.pub", project.directory / "certbot.pub")
    on_site = project.sh(advised[1])
    assert on_site.returncode == 0, on_site.stderr
    assert served("certbot", "example.com", other_key).returncode == 0

    # 2. A user without the permission: the site's 403 names the command that grants it.
    user = project.user("certbot")
    user["fields"]["user_permissions"] = []
    project.loaddata([user])
    assert project.user("certbot")["fields"]["user_permissions"] == []
    refused = served("certbot", "example.com", key)
    assert "403 Forbidden" in refused.stderr, refused.stderr
    grant = re.search(r"grant it with: (manage\.py certbot_client \S+?)[\"\s]", refused.stderr)
    assert grant, refused.stderr
    # The hook adds no generic causes after the site's own reason.
    assert "lacks the permission to add challenges" not in refused.stderr, refused.stderr
    assert project.sh(f"python {grant.group(1)}").returncode == 0
    assert served("certbot", "example.com", key).returncode == 0

    # 3. A key whose scope lacks the name: the site's 403 names the command that widens it.
    scoped_key = tmp_path / "keys" / "scoped.pem"
    public = project.sh(f"auth-hook keygen --key-file {scoped_key} > scoped.pub")
    assert public.returncode == 0, public.stderr
    assert (
        project.sh(
            "python manage.py certbot_client scoped --public-key-file scoped.pub --domain example.com"
        ).returncode
        == 0
    )
    refused = served("scoped", "www.example.com", scoped_key)
    widen = re.search(
        r"widen the scope on the site: (manage\.py certbot_client .*? --domain PATTERN) \.\.\.", refused.stderr
    )
    assert widen, refused.stderr
    command = widen.group(1).replace("KEY", "scoped.pub").replace("PATTERN", "www.example.com")
    widened = project.sh(f"python {command}")
    assert widened.returncode == 0, widened.stdout + widened.stderr
    assert served("scoped", "www.example.com", scoped_key).returncode == 0

    for leftover in (other_key, scoped_key):
        leftover.unlink()


def advised_in_source() -> list[str]:
    """The `python manage.py ...` commands the hooks' messages are built from, with their placeholders."""
    commands = []
    for source in ("advice.rs", "api.rs"):
        text = (h.ROOT / "crates" / "certbot-django-hooks" / "src" / source).read_text()
        # Rust string continuations: a backslash at the end of a line joins the next line's text.
        text = re.sub(r"\\\n\s*", "", text)
        commands += re.findall(r"python manage\.py [a-z_]+(?: [^'\"]*?)?(?=['\"])", text)
    return sorted(set(commands))


@pytest.mark.parametrize("project", [True], ids=["with-fast-path"], indirect=True)
def test_every_manage_py_command_in_the_hooks_messages_runs_on_a_site(project: Project) -> None:
    commands = advised_in_source()
    assert "python manage.py certbot_client {user} --list-keys" in commands, commands
    assert len(commands) >= 4, commands
    for template in commands:
        command = template.replace("{user}", "certbot").replace("{file}", "certbot.pub")
        command = command.replace("{public_key_file}", "certbot.pub")
        assert "{" not in command, f"a placeholder this test does not know: {template}"
        result = project.sh(command)
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
