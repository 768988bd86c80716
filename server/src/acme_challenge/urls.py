"""Include under ``.well-known/``: ``path(".well-known/", include("acme_challenge.urls"))``.

The API patterns take the trailing slash as optional. With ``APPEND_SLASH`` Django would otherwise answer a slashless
POST or DELETE with a redirect (or, with ``DEBUG``, a 500), and clients do not re-send a body across redirects.
The challenge URL admits only ``[A-Za-z0-9_-]+`` tokens, so anything else is a plain 404 from the resolver.
"""

from django.urls import re_path

from . import metrics, reports, views
from .validation import TOKEN_PATTERN

app_name = "acme_challenge"

urlpatterns = [
    re_path(rf"^acme-challenge/(?P<token>{TOKEN_PATTERN})\Z", views.serve_challenge, name="serve"),
    re_path(r"^challenges/?\Z", views.create_challenge, name="create"),
    re_path(rf"^challenges/(?P<token>{TOKEN_PATTERN})/?\Z", views.delete_challenge, name="delete"),
    # Batches (issue 22): apart from the token routes, so that no token collides with them, and a 404 without a refusal
    # code on older servers, which tells the hooks to push one by one.
    re_path(r"^challenge-batch/?\Z", views.push_batch, name="push-batch"),
    re_path(r"^challenge-batch/delete/?\Z", views.delete_batch, name="delete-batch"),
    re_path(r"^certificates/?\Z", reports.report_certificate, name="report"),
    re_path(r"^acme-challenge-metrics/?\Z", metrics.metrics, name="metrics"),
]
