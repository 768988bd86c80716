"""Fixtures for the end-to-end stories: real Pebble, its DNS, the example site, certbot and the release hooks.

Pebble runs once per session; each test gets a fresh site database and a fresh certbot directory, so
no story sees another's rows or certificates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h


@pytest.fixture(scope="session", autouse=True)
def _no_private_key_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures make keys too (tmp_path_factory): gone when the session ends."""
    yield
    h.delete_private_keys(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _private_keys_deleted(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's private keys (auth-hook keygen's, certbot's privkey.pem, a test CA's) are deleted when it ends, after
    its servers stopped: pytest keeps the last runs' tmp_path directories, and a key must not stay in them."""
    # Asked for here, before the test's other fixtures, so that tmp_path is still there when this one ends.
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is not None:
        h.delete_private_keys(tmp_path)


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
