"""Where things are: the repository, the example site, the venv, the release hooks; and the fixed ports Pebble
and the site use.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = ROOT / "examples" / "django_site"
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python" if (VENV / "bin" / "python").exists() else Path(sys.executable)
AUTH_HOOK = ROOT / "target" / "release" / "auth-hook"
CLEANUP_HOOK = ROOT / "target" / "release" / "cleanup-hook"

# Pebble validates HTTP-01 on this port, so the example site listens here.
HTTP01_PORT = 5002
PEBBLE_PORT = 14000
PEBBLE_MGMT_PORT = 15000
DNS_PORT = 8053
CHALLTESTSRV_MGMT_PORT = 8055
