"""Test-only: records which claims each JWT carried, so the tests can show what the old server accepted.

Not part of certbot-django. Installed first in MIDDLEWARE when ``LEGACY_SITE_CLAIMS_LOG`` names a file; appends
one JSON line per request with a JWT: method, path and the sorted claim names (never the token or its values).
It reads the payload without verifying it and changes nothing about the request.
"""

import base64
import json
import os


class RecordClaimNamesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.log = os.environ["LEGACY_SITE_CLAIMS_LOG"]

    def __call__(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.upper() == "JWT" and token.count(".") == 2:
            payload = token.split(".")[1]
            try:
                names = sorted(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
            except ValueError:
                names = ["<unreadable>"]
            with open(self.log, "a") as log:
                log.write(json.dumps([request.method, request.path, names]) + "\n")
        return self.get_response(request)
