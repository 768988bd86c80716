"""scripts/bootstrap on a machine that lacks what no package registry here provides, and a second run without network.

Rust 1.88+ (rustup) and a Python 3.12+ for the Django 6.1 run cannot come from apt or PyPI: bootstrap must stop at
once with one line that says what to install and how, before it changes anything. Each story runs bootstrap in a
fresh clone of this repository (with the working tree's scripts/bootstrap) under a PATH that hides the tool, and
checks the effects: the exit status, the one line, and that neither the clone nor the Debian packages changed.

The last story runs bootstrap again in this tree with no network (`unshare -n`): it must succeed and install
nothing. It runs only right after a bootstrap with the same options (scripts/test sets CERTBOT_DJANGO_BOOTSTRAPPED
to them), because an offline run that had something to install would fail half-way through a shared venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.paths import ROOT

BOOTSTRAP = ROOT / "scripts" / "bootstrap"
# The system's own directories: no ~/.cargo/bin, no pyenv shims.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CARGO_BIN = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin"
RUSTUP_HOME = os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup"))


def installed_debian_packages() -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """A fresh clone of this repository, with the working tree's scripts/bootstrap."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    shutil.copy2(BOOTSTRAP, target / "scripts" / "bootstrap")
    subprocess.run(["git", "-C", str(target), "add", "scripts/bootstrap"], check=True)
    yield target
    shutil.rmtree(target)


def untracked_or_changed(clone: Path) -> list[str]:
    """Everything in the clone that is not as committed: a venv, target/, a stamp, an egg-info."""
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain", "--ignored"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in status.splitlines() if line.strip() != "M  scripts/bootstrap"]


def run_bootstrap(clone: Path, path: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "HOME": str(home),
        "RUSTUP_HOME": RUSTUP_HOME,
        "CARGO_HOME": str(CARGO_BIN.parent),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(clone / "scripts" / "bootstrap"), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def assert_stopped_with_one_line(result: subprocess.CompletedProcess[str], clone: Path, packages_before: str) -> str:
    assert result.returncode == 1, result
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert untracked_or_changed(clone) == [], "bootstrap changed the clone before stopping"
    assert installed_debian_packages() == packages_before, "bootstrap changed the Debian packages before stopping"
    return lines[0]


def test_without_cargo_bootstrap_stops_at_once_naming_rustup_and_the_version(clone: Path, tmp_path: Path) -> None:
    before = installed_debian_packages()
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    line = assert_stopped_with_one_line(run_bootstrap(clone, SYSTEM_PATH, empty_home), clone, before)
    assert line.startswith("bootstrap: cargo not found: this workspace needs Rust 1.88 or newer; install it with rust")
    assert "https://sh.rustup.rs" in line and "--default-toolchain 1.88" in line, line


def test_with_rustup_installed_but_not_on_path_bootstrap_says_how_to_load_it(clone: Path, tmp_path: Path) -> None:
    before = installed_debian_packages()
    home = tmp_path / "home"
    (home / ".cargo" / "bin").mkdir(parents=True)
    (home / ".cargo" / "bin" / "cargo").symlink_to(CARGO_BIN / "cargo")
    line = assert_stopped_with_one_line(run_bootstrap(clone, SYSTEM_PATH, home), clone, before)
    assert line.startswith('bootstrap: cargo is installed in ~/.cargo/bin but not on PATH: run \'. "$HOME/.cargo/env"')


def test_with_a_rustc_older_than_the_workspace_bootstrap_stops_at_once(clone: Path, tmp_path: Path) -> None:
    # Debian 12's rustc 1.63, stood in for by a script: the real one is not installed here (rustup's is).
    old = tmp_path / "old-rust"
    old.mkdir()
    for tool, version in (("rustc", "rustc 1.63.0"), ("cargo", "cargo 1.63.0")):
        (old / tool).write_text(f"#!/bin/sh\necho '{version}'\n")
        (old / tool).chmod(0o755)
    before = installed_debian_packages()
    home = tmp_path / "home"
    home.mkdir()
    line = assert_stopped_with_one_line(run_bootstrap(clone, f"{old}:{SYSTEM_PATH}", home), clone, before)
    assert line.startswith(
        f"bootstrap: rustc 1.63.0 ({old}/rustc) is older than this workspace's rust-version 1.88: install Rust 1.88"
    ), line


@pytest.mark.parametrize("with_pyenv", [False, True], ids=["no-pyenv", "pyenv-with-only-3.11"])
def test_django61_without_a_python_312_stops_before_anything_changes(
    clone: Path, tmp_path: Path, with_pyenv: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = f"{CARGO_BIN}:{SYSTEM_PATH}"
    if with_pyenv:
        # pyenv on PATH, but its only version is a 3.11 (Debian's, linked into a pyenv root of the test's own).
        pyenv = shutil.which("pyenv")
        if pyenv is None:
            pytest.skip("pyenv is not installed here")
        (home / ".pyenv" / "versions" / "3.11.2" / "bin").mkdir(parents=True)
        (home / ".pyenv" / "versions" / "3.11.2" / "bin" / "python3").symlink_to("/usr/bin/python3.11")
        path = f"{Path(pyenv).resolve().parent}:{path}"
    assert not any(shutil.which(f"python3.{minor}", path=path) for minor in (12, 13, 14))
    before = installed_debian_packages()
    line = assert_stopped_with_one_line(run_bootstrap(clone, path, home, "--with-django61"), clone, before)
    assert line.startswith("bootstrap: --with-django61 needs Python 3.12 or later (for Django 6.1)"), line
    assert "'pyenv install 3.13'" in line, line


def stamps(root: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of what an install would replace: each venv's stamp, python and site-packages,
    the cargo-deb binary."""
    found = {}
    for venv in sorted(root.glob(".venv*")):
        for path in [venv / ".stamp", venv / "bin" / "python", *venv.glob("lib/python3.*/site-packages")]:
            if path.exists():
                st = path.lstat()
                found[str(path.relative_to(root))] = (st.st_ino, st.st_mtime_ns)
    cargo_deb = CARGO_BIN / "cargo-deb"
    if cargo_deb.exists():
        found["cargo-deb"] = (cargo_deb.stat().st_ino, cargo_deb.stat().st_mtime_ns)
    return found


@pytest.mark.skipif(
    "CERTBOT_DJANGO_BOOTSTRAPPED" not in os.environ,
    reason="runs only right after scripts/bootstrap (scripts/test sets CERTBOT_DJANGO_BOOTSTRAPPED to its options)",
)
def test_a_second_bootstrap_without_network_installs_nothing_and_succeeds() -> None:
    args = os.environ["CERTBOT_DJANGO_BOOTSTRAPPED"].split()
    before_stamps, before_packages = stamps(ROOT), installed_debian_packages()
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", str(BOOTSTRAP), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("bootstrap: ") and line.endswith(" ...")]
    legacy = ["bootstrap: the legacy certbot-django venvs (tests/harness/legacy.py) ..."]
    if "--with-legacy" not in args:
        legacy = []
    assert steps == [*legacy, "bootstrap: building the hooks (cargo build --release) ..."], result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr
    assert stamps(ROOT) == before_stamps
    assert installed_debian_packages() == before_packages
