"""Start and stop the real parts of the chain: Pebble and its DNS, the example site, certbot, PostgreSQL and nginx.

The end-to-end tests, the demo and the benchmarks all drive the same processes through this package, so what the
demo shows is what the tests check. Every process is started in its own process group and stopped by the context
manager that started it, even when the caller fails midway. One module per part:

* ``paths``: the repository, the example site, the venv, the release hooks, the fixed ports;
* ``process``: child processes, waiting for them, free ports, ``running`` (start in order, stop in reverse);
* ``pebble``: Pebble and pebble-challtestsrv;
* ``site``: the example Django site under gunicorn or runserver;
* ``hooks``: the release hooks as certbot runs them, their options, keys from ``auth-hook keygen``;
* ``certbot``: certbot against Pebble;
* ``postgres`` and ``nginx``: the scale-out stories' shared database and load balancer (nginx also serves TLS for
  the probe's story);
* ``pki``: a CA of a test's own (root, intermediate, leaves with chosen dates), for ``ACME_CHALLENGE_TRUST_ROOTS``;
* ``browser``: headless chromium through chromedriver (Selenium), for the dashboard (``import harness.browser``);
* ``legacy``: the old certbot-django software in venvs of its own (``python -m harness.legacy`` builds them).

``scripts/bootstrap`` installs the package into .venv (``pip install -e tests``), so ``import harness as h`` works
in the tests and the scripts alike. Everything but ``legacy`` is importable from the package itself.
"""

from __future__ import annotations

from .certbot import Certbot, cert_info
from .hooks import certbot_env, delete_private_keys, hook_args, keygen, require_built_hooks, run_hook, sign_request
from .nginx import Nginx
from .paths import (
    AUTH_HOOK,
    CHALLTESTSRV_MGMT_PORT,
    CLEANUP_HOOK,
    DNS_PORT,
    HTTP01_PORT,
    PEBBLE_MGMT_PORT,
    PEBBLE_PORT,
    PYTHON,
    ROOT,
    SITE_DIR,
    VENV,
)
from .pebble import Pebble, openssl
from .postgres import Postgres
from .process import (
    HarnessError,
    Process,
    ensure_port_free,
    free_port,
    port_open,
    run_checked,
    running,
    start_server,
    wait_for,
)
from .site import Site

__all__ = [
    "AUTH_HOOK",
    "CHALLTESTSRV_MGMT_PORT",
    "CLEANUP_HOOK",
    "Certbot",
    "DNS_PORT",
    "HTTP01_PORT",
    "HarnessError",
    "Nginx",
    "PEBBLE_MGMT_PORT",
    "PEBBLE_PORT",
    "PYTHON",
    "Pebble",
    "Postgres",
    "Process",
    "ROOT",
    "SITE_DIR",
    "Site",
    "VENV",
    "cert_info",
    "certbot_env",
    "ensure_port_free",
    "free_port",
    "hook_args",
    "delete_private_keys",
    "keygen",
    "openssl",
    "port_open",
    "require_built_hooks",
    "run_hook",
    "sign_request",
    "run_checked",
    "running",
    "start_server",
    "wait_for",
]
