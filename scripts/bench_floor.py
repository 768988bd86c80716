"""A do-nothing challenge API for the benchmark's floor: 201 to every POST, 204 to every DELETE.

Timing `auth-hook --no-self-check` against it gives the hook's own share of a push (start, key, JWT, one
HTTP exchange over loopback); the rest of a push against the real site is the site's share. nginx answers
with its `return` directive, reading and dropping the body. Python's http.server in the benchmark's own
process was slower to answer (a push took 2.55 ms against it, 2.24 ms against nginx, medians of 40 on
2026-11-25), and that difference would have counted as the hook's own time.
"""

from __future__ import annotations

from pathlib import Path

import harness as h

#: Every request answered at once, whatever its path and body.
DO_NOTHING = "location / { if ($request_method = DELETE) { return 204; } return 201; }"


def floor_server(workdir: Path) -> h.Nginx:
    """nginx on a free loopback port answering every API request at once; start() and stop() as the harness's."""
    return h.Nginx(workdir, backends=(), port=h.free_port(), location=DO_NOTHING)
