"""The README's walkthrough, run as written: from the repository root to a certificate from the local Pebble."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import harness as h


def walkthrough() -> str:
    readme = (h.ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S)
    assert block, "README.md lost its walkthrough markers"
    return block.group(1)


def test_the_readme_walkthrough_gets_a_certificate_from_the_local_ca(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTBOT_", "DJANGO_", "DATABASE_URL"))}
    # The walkthrough's `mktemp -d` makes its work folder, with the private keys, in here.
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=h.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert proc.returncode == 0, out
    assert "subject=CN" in out and "notAfter=" in out, out
    assert "server: ok" in out, out
    # It deletes its work folder, keys and all, when it ends.
    assert list(tmp_path.iterdir()) == [], out
