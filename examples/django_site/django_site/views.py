"""The site's own view: a liveness probe."""

from django.http import HttpRequest, HttpResponse


def healthz(request: HttpRequest) -> HttpResponse:
    """Plain "ok" without touching the database: fixtures poll it to wait for start-up, and benchmarks use it as the
    cost of a request that does nothing."""
    return HttpResponse("ok", content_type="text/plain")
