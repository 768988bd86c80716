"""nginx as a load balancer in front of several site nodes, or as a plain static server."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import HTTP01_PORT
from .process import Process, ensure_port_free, port_open, wait_for


@dataclass
class Nginx:
    """nginx from Debian as a round-robin load balancer in front of the example site's nodes."""

    workdir: Path
    backends: Sequence[int]
    port: int = HTTP01_PORT
    # With a webroot and no backends, nginx serves files: the static server certbot --webroot relies on.
    webroot: Path | None = None
    # False: like many PaaS routers, never replay an API request on another node; the hooks must retry.
    api_failover: bool = True
    # A location block of its own instead of the balancer or the static server (the benchmark's do-nothing API).
    location: str | None = None
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        ensure_port_free(self.port, "nginx")
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in self.backends)
        upstream = f"upstream django_nodes {{\n{servers}\n    }}" if self.backends else ""
        proxy = "proxy_pass http://django_nodes; proxy_set_header Host $host; proxy_connect_timeout 2s;"
        location = self.location or f"location / {{ {f'root {self.webroot};' if self.webroot else proxy} }}"
        if not self.api_failover and self.location is None:
            location += f"\n        location /.well-known/challenges/ {{ {proxy} proxy_next_upstream off; }}"
        (w / "nginx.conf").write_text(
            f"""
worker_processes 1;
user root root;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    {upstream}
    server {{
        listen 127.0.0.1:{self.port};
        {location}
    }}
}}
"""
        )
        self.process = Process(
            "nginx", ["nginx", "-p", str(w), "-c", str(w / "nginx.conf"), "-g", "daemon off;"], w / "nginx.log"
        )
        wait_for("nginx", lambda: port_open(self.port), proc=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGQUIT)
            self.process = None
