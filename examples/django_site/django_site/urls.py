"""The admin, the liveness probe, and the challenge app under /.well-known/ (where the CA looks)."""

from django.contrib import admin
from django.urls import include, path

from .views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path(".well-known/", include("acme_challenge.urls")),
]
