"""A do-nothing challenge API for the benchmark's floor: 201 to every POST, 204 to every DELETE.

Timing `auth-hook --no-self-check` against it gives the hook's own share of a push (start, key, JWT, one
HTTP exchange over loopback); the rest of a push against the real site is the site's share. nginx answers
with its `return` directive, reading and dropping the body. Python's http.server in the benchmark's own
process was slower to answer (a push took 2.55 ms against it, 2.24 ms against nginx, medians of 40 on
2026-11-25), and that difference would have counted as the hook's own time.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import harness as h


@dataclass
class FloorServer:
    """nginx on a free loopback port answering every API request at once; start() and stop() as the harness's."""

    workdir: Path
    port: int = 0
    process: h.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FloorServer:
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        self.port = self.port or h.free_port()
        (w / "nginx.conf").write_text(
            f"""
worker_processes 1;
user root root;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            if ($request_method = DELETE) {{ return 204; }}
            return 201;
        }}
    }}
}}
"""
        )
        self.process = h.Process(
            "floor", ["nginx", "-p", str(w), "-c", str(w / "nginx.conf"), "-g", "daemon off;"], w / "nginx.log"
        )
        h.wait_for("the do-nothing server (nginx)", lambda: h.port_open(self.port), proc=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGQUIT)
            self.process = None
