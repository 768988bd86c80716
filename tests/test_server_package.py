"""The server app as users install it: `pip install ./server` builds a wheel with everything the app needs."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import harness as h


def test_the_server_package_builds_a_wheel_with_its_migrations_commands_and_types(tmp_path: Path) -> None:
    subprocess.run(
        [
            str(h.PYTHON),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(h.ROOT / "server"),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("django_acme_challenge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    for required in (
        "acme_challenge/migrations/0001_initial.py",
        "acme_challenge/management/commands/certbot_client.py",
        "acme_challenge/management/commands/acme_challenge_purge.py",
        "acme_challenge/py.typed",
        "acme_challenge/checks.py",
        "acme_challenge/templates/acme_challenge/dashboard.html",
        "acme_challenge/templates/admin/acme_challenge/app_index.html",
    ):
        assert required in names, f"{required} is missing from {wheel.name}"
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: Django>=5.2" in text and "Requires-Dist: asymmetric-jwt-auth>=1.3" in text
