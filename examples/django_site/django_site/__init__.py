"""An example Django site that mounts acme_challenge; the demo and the end-to-end tests run it."""
