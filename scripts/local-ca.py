"""Run a local Pebble CA (and its DNS, which answers 127.0.0.1 for every name) until Ctrl-C.

For trying the hooks by hand, as the README's walkthrough does: certbot talks to
https://127.0.0.1:14000/dir, trusting the CA file this prints, and Pebble validates HTTP-01 on
127.0.0.1:5002, where your Django site runs.
"""

from __future__ import annotations

import signal
import sys

import harness as h


def main() -> int:
    work = h.ROOT / ".work" / "local-ca"
    work.mkdir(parents=True, exist_ok=True)
    pebble = h.Pebble(work)
    with h.running(pebble):
        print(f"Pebble is up: ACME directory {pebble.directory}")
        print(f"It validates HTTP-01 on 127.0.0.1:{pebble.http01_port}; every name resolves to 127.0.0.1.")
        print("Point certbot at it with:")
        print(f"  export REQUESTS_CA_BUNDLE={pebble.ca_bundle}")
        print(f"  certbot ... --server {pebble.directory}")
        print("Ctrl-C stops it.", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})  # blocked in __main__, so they arrive here
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
