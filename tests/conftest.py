"""Fixtures for the end-to-end stories: real Pebble, its DNS, the example site, certbot and the release hooks.

Pebble runs once per session; each test gets a fresh site database and a fresh certbot directory, so
no story sees another's rows or certificates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Pebble]:
    h.require_built_hooks()
    # Shifted ports: the README walkthrough (tests/test_readme_walkthrough.py) runs its own Pebble on the default ones.
    ca = h.Pebble(tmp_path_factory.mktemp("pebble"), port_offset=2)
    with h.running(ca):
        yield ca


@pytest.fixture
def site(tmp_path: Path) -> Iterator[h.Site]:
    s = h.Site(tmp_path / "site")
    with h.running(s):
        yield s


@pytest.fixture
def key(tmp_path: Path, site: h.Site) -> Path:
    """An Ed25519 key from auth-hook keygen, registered to the user 'certbot' on the site."""
    key_file = tmp_path / "certbot.key"
    site.register_key("certbot", h.keygen(key_file))
    return key_file


@pytest.fixture
def certbot(tmp_path: Path, pebble: h.Pebble) -> h.Certbot:
    return h.Certbot(tmp_path / "certbot", pebble)
