"""Serve ACME HTTP-01 challenges from the database, pushed by certbot hooks authenticated with asymmetric-key JWTs."""
