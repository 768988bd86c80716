"""Mounts certbot-django's server app at /.well-known/, where its plugin POSTs and the CA fetches."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path(".well-known/", include("certbot_django.server.urls")),
]
