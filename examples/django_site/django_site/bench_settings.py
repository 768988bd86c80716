"""The example site's settings plus a timing middleware, for scripts/bench only: never deploy these.

The benchmark needs the site's own share of a push, measured at the site: the time Django spends on
one API request and the SQL statements it runs. ``RequestTimingMiddleware`` goes first in
``MIDDLEWARE``, so its clock covers the whole middleware stack (the JWT verification and its nonce
included) and the view; it does not cover gunicorn's HTTP parsing or Django's WSGI request set-up.
It appends one JSON line per API request to the file named by ``ACME_BENCH_TIMING_FILE``. Other
requests (the CA's fetches, /healthz) pass straight through, so the serving benchmark is unaffected.

Use: ``DJANGO_SETTINGS_MODULE=django_site.bench_settings ACME_BENCH_TIMING_FILE=/path/to/timing.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import MIDDLEWARE as _SITE_MIDDLEWARE

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

#: The environment variable naming the file the middleware appends its JSON lines to.
TIMING_FILE_ENV = "ACME_BENCH_TIMING_FILE"
#: The challenge API (POST challenges/, DELETE challenges/<token>/, and the batches of issue 22: POST
#: challenge-batch/ and challenge-batch/delete/); the app is mounted under /.well-known/.
API_PREFIXES = ("/.well-known/challenges", "/.well-known/challenge-batch")

MIDDLEWARE = ["django_site.bench_settings.RequestTimingMiddleware", *_SITE_MIDDLEWARE]

_CONTROL = {"BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "END"}
_READS = {"SELECT", "PRAGMA", "EXPLAIN"}
_WRITE_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class StatementCounter:
    """An ``execute_wrapper`` that counts the statements of one request by kind, and its write transactions.

    Statements are what goes through Django's cursors: reads, writes, and transaction control (BEGIN,
    SAVEPOINT, RELEASE; a COMMIT goes through the driver, not a cursor). A write transaction is an atomic block
    that writes, or a write in autocommit mode. Blocks are told apart by the statement before them running
    outside any atomic block: on SQLite that is always the block's own BEGIN; on PostgreSQL, which begins
    transactions in the driver, two atomic blocks with no statement between them would count as one.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.reads = self.writes = self.control = 0
        self._block = 0
        self._was_atomic = False
        self._writing: set[tuple[str, int]] = set()

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        atomic = bool(self.connection.in_atomic_block)
        if atomic and not self._was_atomic:
            self._block += 1
        self._was_atomic = atomic
        if verb in _CONTROL:
            self.control += 1
        elif verb in _READS or (verb == "WITH" and not _WRITE_WORD.search(sql)):
            self.reads += 1
        else:
            self.writes += 1
            self._writing.add(("atomic", self._block) if atomic else ("autocommit", self.writes))
        return execute(sql, params, many, context)

    @property
    def statements(self) -> int:
        return self.reads + self.writes + self.control

    @property
    def write_transactions(self) -> int:
        return len(self._writing)


class RequestTimingMiddleware:
    """Times each API request around the rest of the stack and counts its SQL; one JSON line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        path = os.environ.get(TIMING_FILE_ENV)
        if not path:
            raise ImproperlyConfigured(
                f"{TIMING_FILE_ENV} is not set: django_site.bench_settings needs the file to append its timings "
                "to; set it, or use django_site.settings"
            )
        self.get_response = get_response
        self._out = open(path, "a", buffering=1)  # noqa: SIM115 - one per worker process, for its lifetime
        self._lock = threading.Lock()  # gunicorn's threads share the file

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        from django.db import connection

        counter = StatementCounter(connection)
        with connection.execute_wrapper(counter):
            start = time.perf_counter()
            response = self.get_response(request)
            elapsed = time.perf_counter() - start
        record = {
            "method": request.method,
            "status": response.status_code,
            "ms": round(elapsed * 1000, 3),
            "statements": counter.statements,
            "reads": counter.reads,
            "writes": counter.writes,
            "control": counter.control,
            "write_transactions": counter.write_transactions,
            # The product token only ("certbot-django-hooks", "Python-urllib"): the benchmark tells its clients apart.
            "client": request.headers.get("User-Agent", "").split("/", 1)[0],
        }
        with self._lock:
            self._out.write(json.dumps(record) + "\n")
        return response
