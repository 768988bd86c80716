"""The packages as users install them: what scripts/package builds into dist/.

The hooks' wheel goes into a fresh venv without network access, and certbot issues a certificate
with the hooks that venv puts on PATH; the .deb is installed with apt, run, and removed again; the
server app's wheel and sdist carry the changelog and name the Django and Python versions CI tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h
from harness import hook_args

DEB_NAME = "certbot-django-hooks"
# The oldest glibc the hooks' wheel runs on, and its tag: maturin --zig builds for manylinux2014.
OLDEST_GLIBC = (2, 17)
WHEEL_PLATFORM = "manylinux2014_x86_64.manylinux_2_17_x86_64"
WORKSPACE = tomllib.loads((h.ROOT / "Cargo.toml").read_text())["workspace"]["package"]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)


# The one crate under hooks/: every hook binary, the root of the wheel and of the .deb.
HOOKS_PACKAGE = tomllib.loads((h.ROOT / "hooks" / "Cargo.toml").read_text())["package"]["name"]


def hook_binaries() -> list[str]:
    """Every binary of the crate under hooks/, as cargo sees the workspace."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"], cwd=h.ROOT, capture_output=True, check=True
        ).stdout
    )
    hooks_dir = str(h.ROOT / "hooks") + os.sep
    return sorted(
        target["name"]
        for package in metadata["packages"]
        if package["manifest_path"].startswith(hooks_dir)
        for target in package["targets"]
        if "bin" in target["kind"]
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """scripts/package's output, built once for this module into a directory of its own."""
    out = tmp_path_factory.mktemp("dist")
    result = run([str(h.ROOT / "scripts" / "package"), "--out", str(out)], timeout=1800)
    assert result.returncode == 0, f"scripts/package failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    yield out
    shutil.rmtree(out, ignore_errors=True)


def only(directory: Path, pattern: str) -> Path:
    (found,) = directory.glob(pattern)
    return found


def test_every_package_carries_the_workspace_version(dist: Path) -> None:
    version = WORKSPACE["version"]
    names = sorted(p.name for p in dist.iterdir())

    assert names == sorted(
        [
            f"{DEB_NAME}_{version}-1_amd64.deb",
            f"certbot_django_hooks-{version}-py3-none-{WHEEL_PLATFORM}.whl",
            f"django_acme_challenge-{version}-py3-none-any.whl",
            f"django_acme_challenge-{version}.tar.gz",
        ]
    ), names


def glibc_versions(binary: Path) -> set[tuple[int, ...]]:
    """The glibc symbol versions a binary needs (objdump -T: its dynamic symbols' GLIBC_x.y)."""
    symbols = run(["objdump", "-T", str(binary)])
    assert symbols.returncode == 0, symbols.stderr
    return {tuple(int(n) for n in v.split(".")) for v in re.findall(r"\bGLIBC_(\d+(?:\.\d+)+)\b", symbols.stdout)}


def test_every_hook_in_the_wheel_needs_no_glibc_newer_than_its_manylinux_tag(dist: Path, tmp_path: Path) -> None:
    wheel = only(dist, "certbot_django_hooks-*.whl")
    with zipfile.ZipFile(wheel) as z:
        scripts = [n for n in z.namelist() if ".data/scripts/" in n]
        wheel_tags = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))).decode()
        z.extractall(tmp_path, members=scripts)

    assert sorted(n.rsplit("/", 1)[1] for n in scripts) == hook_binaries()
    assert [line for line in wheel_tags.splitlines() if line.startswith("Tag: ")] == [
        f"Tag: py3-none-{platform}" for platform in WHEEL_PLATFORM.split(".")
    ], wheel_tags
    for name in scripts:
        versions = glibc_versions(tmp_path / name)
        assert versions, f"{name} names no GLIBC_ symbol version: is it dynamically linked against glibc?"
        assert max(versions) <= OLDEST_GLIBC, f"{name} needs glibc {'.'.join(map(str, max(versions)))}"


def test_the_hooks_wheel_installs_offline_and_certbot_issues_with_the_hooks_on_its_path(
    dist: Path, site: h.Site, certbot: h.Certbot, tmp_path: Path
) -> None:
    wheel = only(dist, "certbot_django_hooks-*.whl")
    venv = tmp_path / "certbot-host-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    installed = run([str(venv / "bin" / "pip"), "install", "--no-index", "--disable-pip-version-check", str(wheel)])
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # Every hook is an executable on the venv's PATH, and says the workspace's version.
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    for hook in hook_binaries():
        assert shutil.which(hook, path=path) == str(venv / "bin" / hook)
        version = run([hook, "--version"], env={**os.environ, "PATH": path})
        assert version.returncode == 0 and WORKSPACE["version"] in version.stdout, version

    # The key comes from the installed auth-hook too; certbot (from .venv) names the hooks bare.
    key_file = tmp_path / "certbot.key"
    public = tmp_path / "certbot.pub.pem"
    with open(public, "wb") as out:
        subprocess.run([str(venv / "bin" / "auth-hook"), "keygen", "--key-file", str(key_file)], check=True, stdout=out)
    site.register_key("certbot", public)
    options = hook_args(site, key_file)
    args = [
        *certbot.base_args(),
        "certonly",
        "--manual",
        "--preferred-challenges",
        "http",
        "--manual-auth-hook",
        certbot.hook_line(Path("auth-hook"), options),
        "--manual-cleanup-hook",
        certbot.hook_line(Path("cleanup-hook"), options),
        "-d",
        "wheel.example.com",
    ]
    result = subprocess.run(
        args, env={**certbot.env(), "PATH": path}, capture_output=True, text=True, check=False, timeout=300
    )

    assert result.returncode == 0, f"certbot failed:\n{result.stdout}\n{result.stderr}\n{certbot.log()[-4000:]}"
    assert h.cert_info(certbot.live_cert("wheel.example.com"))["names"] == "wheel.example.com"
    assert "Running manual-cleanup-hook command: cleanup-hook " in certbot.log()
    assert site.challenge_rows() == []


def test_the_deb_installs_with_apt_and_ships_the_hooks_man_pages_completions_example_and_copyright(
    dist: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("installing a .deb needs root (CI runs as root)")
    already = run(["dpkg-query", "-W", "-f=${Status}", DEB_NAME])
    assert "install ok installed" not in already.stdout, (
        f"{DEB_NAME} is already installed here; this test installs and removes it: apt-get remove {DEB_NAME}"
    )
    deb = only(dist, f"{DEB_NAME}_*.deb")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = run(["apt-get", "install", "-y", "--no-install-recommends", str(deb)], env=env, timeout=300)
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        for hook in hook_binaries():
            binary = Path("/usr/bin") / hook
            version = run([str(binary), "--version"])
            assert version.returncode == 0 and WORKSPACE["version"] in version.stdout, version
            man = run(["man", "-w", hook])
            assert man.stdout.strip() == f"/usr/share/man/man1/{hook}.1.gz", man
            for completion in (
                f"/usr/share/bash-completion/completions/{hook}",
                f"/usr/share/zsh/vendor-completions/_{hook}",
                f"/usr/share/fish/vendor_completions.d/{hook}.fish",
            ):
                assert hook in Path(completion).read_text(), completion
        doc = Path("/usr/share/doc") / DEB_NAME
        assert (doc / "examples" / "django-hooks.toml").read_text() == (
            h.ROOT / "examples" / "django-hooks.toml"
        ).read_text()
        assert (doc / "copyright").read_text() == (h.ROOT / "packaging" / "debian" / "copyright").read_text()
        depends = run(["dpkg-query", "-W", "-f=${Depends}", DEB_NAME]).stdout
        assert "libc6" in depends, depends
    finally:
        removed = run(["apt-get", "purge", "-y", DEB_NAME], env=env, timeout=300)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not any((Path("/usr/bin") / hook).exists() for hook in hook_binaries())
    assert not (Path("/usr/share/doc") / DEB_NAME).exists()


def classified_versions(metadata: str, prefix: str) -> set[str]:
    """The X.Y versions of the classifiers "PREFIX X.Y" in a METADATA file."""
    versions = set()
    for line in metadata.splitlines():
        value = line.removeprefix(f"Classifier: {prefix}")
        if value != line and re.fullmatch(r"\d+\.\d+", value):
            versions.add(value)
    return versions


def django_and_python_of(venv: Path) -> tuple[str, str]:
    """(Django X.Y, Python 3.Y) of a venv the server tests run in."""
    python = venv / "bin" / "python"
    assert python.exists(), f"{venv} is missing: scripts/bootstrap --with-django61 creates it"
    out = run([str(python), "-c", "import sys, django; print(django.__version__, sys.version.split()[0])"])
    django, python_version = out.stdout.split()
    return ".".join(django.split(".")[:2]), ".".join(python_version.split(".")[:2])


def test_the_server_packages_carry_the_changelog_and_classify_exactly_the_tested_django_and_python(
    dist: Path,
) -> None:
    wheel = only(dist, "django_acme_challenge-*.whl")
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    with tarfile.open(only(dist, "django_acme_challenge-*.tar.gz")) as sdist:
        sdist_names = sdist.getnames()

    assert any(n.endswith("/CHANGELOG.md") for n in sdist_names), sdist_names
    assert any(n.endswith("/LICENSE") for n in sdist_names), sdist_names
    # The long description is the README followed by the changelog, which names this version.
    assert "# django-acme-challenge" in metadata and "# Changelog" in metadata
    assert f"## {WORKSPACE['version']}" in metadata
    tested = [django_and_python_of(h.ROOT / ".venv"), django_and_python_of(h.ROOT / ".venv-django61")]
    assert classified_versions(metadata, "Framework :: Django :: ") == {django for django, _ in tested}
    assert classified_versions(metadata, "Programming Language :: Python :: ") == {python for _, python in tested}


def spdx_allows(expression: str, allowed: set[str]) -> bool:
    """Whether an SPDX expression (AND, OR, WITH, parentheses, and the old "/" for OR) can be met
    using only the licenses in `allowed`."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expression.replace("/", " OR "))
    position = 0

    def parse_or() -> bool:
        nonlocal position
        result = parse_and()
        while position < len(tokens) and tokens[position] == "OR":
            position += 1
            result = parse_and() or result
        return result

    def parse_and() -> bool:
        nonlocal position
        result = parse_term()
        while position < len(tokens) and tokens[position] == "AND":
            position += 1
            result = parse_term() and result
        return result

    def parse_term() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "(":
            result = parse_or()
            position += 1  # ")"
            return result
        if position < len(tokens) and tokens[position] == "WITH":
            position += 2  # an exception only adds permissions
        return token in allowed

    return parse_or()


def test_spdx_allows_reads_and_or_with_and_parentheses() -> None:
    assert spdx_allows("MIT OR Apache-2.0", {"MIT"})
    assert spdx_allows("MIT/Apache-2.0", {"Apache-2.0"})
    assert not spdx_allows("ISC AND (Apache-2.0 OR ISC) AND BSD-3-Clause", {"ISC", "Apache-2.0"})
    assert spdx_allows("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT", {"Apache-2.0"})
    assert not spdx_allows("Unicode-3.0", {"MIT"})


def test_the_debian_copyright_covers_the_license_of_every_crate_linked_into_a_hook() -> None:
    copyright_text = (h.ROOT / "packaging" / "debian" / "copyright").read_text()
    covered = set(re.findall(r"^License: (\S+)$", copyright_text, flags=re.MULTILINE))
    tree = subprocess.run(
        ["cargo", "tree", "-p", HOOKS_PACKAGE, "-e", "normal", "--target", "x86_64-unknown-linux-gnu"]
        + ["--prefix", "none", "--format", "{p}\t{l}"],
        cwd=h.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    uncovered = {}
    for line in tree.splitlines():
        if "\t" not in line:
            continue
        package, license_expression = line.removesuffix(" (*)").split("\t")
        if not spdx_allows(license_expression, covered):
            uncovered[package] = license_expression
    assert uncovered == {}, f"add these licenses to packaging/debian/copyright (it has {sorted(covered)}): {uncovered}"


def fake_toolchain(directory: Path, rustc_version: str | None, with_rustup: bool) -> dict[str, str]:
    """A PATH with the few commands bootstrap needs before its toolchain check, and a fake Rust."""
    directory.mkdir()
    for tool in ("bash", "dirname", "sed", "sort", "head", "printf", "cat"):
        (directory / tool).symlink_to(shutil.which(tool))
    fakes = {}
    if rustc_version is not None:
        fakes = {"cargo": f"cargo {rustc_version}", "rustc": f"rustc {rustc_version} (4b91a6ea7 2022-08-08)"}
    if with_rustup:
        fakes["rustup"] = "rustup 1.28.2"
    for name, answer in fakes.items():
        (directory / name).write_text(f"#!{shutil.which('bash')}\necho '{answer}'\n")
        (directory / name).chmod(0o755)
    return {"PATH": str(directory), "HOME": str(directory)}


@pytest.mark.parametrize(
    ("rustc_version", "with_rustup", "expected"),
    [
        (None, False, ["cargo not found", "sh.rustup.rs"]),
        ("1.63.0", False, ["rustc 1.63.0", "is older than", "sh.rustup.rs"]),
        ("1.63.0", True, ["rustc 1.63.0", "is older than", "rustup toolchain install"]),
    ],
)
def test_bootstrap_says_in_one_line_which_rust_to_install_before_doing_anything(
    tmp_path: Path, rustc_version: str | None, with_rustup: bool, expected: list[str]
) -> None:
    env = fake_toolchain(tmp_path / "bin", rustc_version, with_rustup)

    result = run([str(h.ROOT / "scripts" / "bootstrap")], env=env, timeout=60)

    assert result.returncode == 1
    assert result.stdout == "", "bootstrap did something before checking the toolchain"
    (line,) = result.stderr.splitlines()
    for part in [*expected, f"Rust {WORKSPACE['rust-version']} or newer"]:
        assert part in line, line


def test_bootstrap_accepts_the_toolchain_this_machine_builds_with(tmp_path: Path) -> None:
    env = fake_toolchain(tmp_path / "bin", WORKSPACE["rust-version"] + ".0", with_rustup=True)

    result = run([str(h.ROOT / "scripts" / "bootstrap"), "--no-such-option"], env=env, timeout=60)

    # Past the toolchain check, the next thing bootstrap does is read its options.
    assert (result.returncode, result.stderr.strip()) == (2, "bootstrap: unknown option --no-such-option")
