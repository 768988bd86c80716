"""The app's import contracts (server/pyproject.toml's [tool.importlinter], checked by lint-imports): the source
tree keeps them, and a cycle added on purpose, hidden in a function, breaks both and is named."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import harness as h

LINT_IMPORTS = h.ROOT / ".venv" / "bin" / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        check=False,
        cwd=tree,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_app(tmp_path: Path) -> Path:
    shutil.copytree(h.ROOT / "server" / "src" / "acme_challenge", tmp_path / "src" / "acme_challenge")
    shutil.copy(h.ROOT / "server" / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_apps_source_keeps_its_layers_and_has_no_cycle(tmp_path: Path) -> None:
    result = lint_imports(copy_of_the_app(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_cycle_added_on_purpose_breaks_both_contracts_and_is_named(tmp_path: Path) -> None:
    tree = copy_of_the_app(tmp_path)
    # conf imports names; names importing conf back, inside a function, closes the circle.
    with (tree / "src" / "acme_challenge" / "names.py").open("a") as names:
        names.write("\n\ndef _cycle() -> None:\n    from . import conf  # noqa: F401\n")

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 2 broken" in result.stdout
    assert ".names -> .conf" in result.stdout, result.stdout
