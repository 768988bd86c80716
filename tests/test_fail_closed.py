"""Fail closed (issues 13 and 20): a broken setup stops certbot before the CA validates, however certbot was started.

Real certbot (1.32, the oldest supported, and the release the project pins), Pebble, the example site and the release
hooks. The broken setup: the self-check also asks a node with a database of its own, which never has the challenge,
as a node that was not migrated would. The evidence is what the CA did, counted in Pebble's log, the processes left,
the site's rows and certbot's lineages; never what the hook or certbot print.

certbot is started the ways users, scripts and schedulers start it (harness.certbot.LAUNCHES): in the foreground, as a
background job of a script (SIGINT ignored), under setsid, with SIGINT ignored, with SIGINT, SIGTERM, SIGHUP and
SIGQUIT ignored (certbot catches SIGTERM anyway while its hooks run), and with all four blocked, which nothing can
stop: there the hook must say so, and the CA validates once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness as h
from harness import hook_args, legacy
from harness.certbot import launch_dispositions

RELEASES = ["1.32", "current"]
STOPPABLE = ["foreground", "background-job", "setsid", "sigint-ignored", "sigint-and-sigterm-ignored"]
# What each launch must leave certbot ignoring, checked on a probe started the same way, so that a story runs the way
# it says (a foreground run inherits what the test runner has, which may itself be a background job).
MUST_IGNORE = {
    "background-job": {"SIGINT", "SIGQUIT"},
    "sigint-ignored": {"SIGINT"},
    "sigint-and-sigterm-ignored": {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"},
}


def started(release: str, launch: str, workdir: Path, pebble: h.Pebble) -> h.Certbot:
    """certbot of `release` started the way `launch` says, after checking that such a start ignores or blocks what it
    should."""
    dispositions = launch_dispositions(launch)
    assert MUST_IGNORE.get(launch, set()) <= dispositions["SigIgn"], dispositions
    if launch == "stop-signals-blocked":
        assert dispositions["SigBlk"] == {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"}, dispositions
    if release == "current":
        return h.Certbot(workdir, pebble, launch=launch)
    legacy.ensure_venv(legacy.CLIENT, log=lambda _: None)
    return h.Certbot(workdir, pebble, program=legacy.CLIENT.bin("certbot"), launch=launch)


@pytest.fixture
def lonely_node(tmp_path: Path) -> Iterator[h.Site]:
    """An app server with a database of its own: it never has the challenges the API stores."""
    s = h.Site(tmp_path / "lonely", port=h.free_port(), workers=1)
    with h.running(s):
        yield s


def broken_args(site: h.Site, key: Path, lonely_node: h.Site) -> list[str]:
    """The hooks' options with the lonely node among the self-check's nodes, and a 3 s --timeout to fail fast."""
    args = hook_args(site, key, "--self-check-node", f"127.0.0.1:{lonely_node.port}")
    args[args.index("--timeout") + 1] = "3"
    return args


def settled_validations(pebble: h.Pebble, name: str) -> int:
    """Pebble's count for `name` once anything certbot asked for has had time to start (it starts at once:
    PEBBLE_VA_NOSLEEP)."""
    time.sleep(0.5)
    return pebble.validations(name)


@pytest.mark.parametrize("launch", STOPPABLE)
@pytest.mark.parametrize("release", RELEASES)
def test_a_broken_setup_stops_certonly_before_the_ca_validates(
    release: str, launch: str, site: h.Site, key: Path, lonely_node: h.Site, pebble: h.Pebble, tmp_path: Path
) -> None:
    certbot = started(release, launch, tmp_path / "certbot", pebble)
    name = f"{launch}.r{release.replace('.', '-')}.example.com"

    result = certbot.certonly([name], broken_args(site, key, lonely_node))

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert settled_validations(pebble, name) == 0, f"the CA was asked to validate {name}:\n{output}"
    assert certbot.running_pids() == [], "certbot is still running"
    assert not certbot.live_cert(name).exists()
    assert site.challenge_rows() == [] and lonely_node.challenge_rows() == []

    if launch == "background-job":
        # The launch the stop used to miss: after the fix, the same way of starting certbot issues.
        fixed = certbot.certonly([name], hook_args(site, key))
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr + certbot.log()[-3000:]
        assert h.cert_info(certbot.live_cert(name))["names"] == name
        assert pebble.validations(name) >= 1
        assert site.challenge_rows() == []


@pytest.mark.parametrize("release", RELEASES)
def test_a_certbot_that_blocks_every_stop_signal_goes_on_the_ca_validates_once_and_the_hook_says_so(
    release: str, site: h.Site, key: Path, lonely_node: h.Site, pebble: h.Pebble, tmp_path: Path
) -> None:
    certbot = started(release, "stop-signals-blocked", tmp_path / "certbot", pebble)
    name = f"blocked.r{release.replace('.', '-')}.example.com"

    result = certbot.certonly([name], broken_args(site, key, lonely_node))

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # The effect the stop exists to prevent, here unpreventable: one failed validation.
    assert settled_validations(pebble, name) == 1, output
    assert certbot.running_pids() == []
    assert not certbot.live_cert(name).exists()
    assert site.challenge_rows() == [] and lonely_node.challenge_rows() == []
    # And the hook told the truth about it, in certbot's output and log.
    for text in (result.stderr, certbot.log()):
        assert f"so it cannot be stopped: the CA will now validate {name} and fail" in text, text
        assert "sending certbot" not in text and "exited on" not in text, text


def test_renew_with_the_first_certificate_broken_still_renews_the_second(
    site: h.Site, key: Path, certbot: h.Certbot, lonely_node: h.Site, pebble: h.Pebble, tmp_path: Path
) -> None:
    def config(name: str, server: str) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(
            f'server = "{server}"\n'
            f'key_file = "{key}"\n'
            f'self_check_url = "http://{{domain}}:{site.port}/.well-known/acme-challenge/{{token}}"\n'
            'resolve = ["*:127.0.0.1"]\n'
            "timeout = 3\n"
        )
        path.chmod(0o600)
        return path

    # certbot renews lineages in the order of their names: the broken one comes first.
    broken_name, fine_name = "a-broken.example.com", "b-fine.example.com"
    broken_config, fine_config = config("broken", site.url), config("fine", site.url)
    for name, conf in ((broken_name, broken_config), (fine_name, fine_config)):
        issued = certbot.certonly([name], ["--config", str(conf)])
        assert issued.returncode == 0, issued.stdout + issued.stderr
    serials = {n: h.cert_info(certbot.live_cert(n))["serial"] for n in (broken_name, fine_name)}
    validated = pebble.validations(broken_name)
    # Then the first one's API moves to a node with a database of its own: the challenge is stored
    # where the public URL (and so the CA) never looks.
    lonely_node.register_key("certbot", key.with_suffix(".pub.pem"))
    config("broken", lonely_node.url)

    renewed = certbot.renew("--force-renewal")

    output = renewed.stdout + renewed.stderr
    assert renewed.returncode != 0, output
    # Under renew the default lets certbot go on: the broken name costs one failed validation, the other renews.
    assert settled_validations(pebble, broken_name) == validated + 1, output
    assert h.cert_info(certbot.live_cert(fine_name))["serial"] != serials[fine_name], output
    assert h.cert_info(certbot.live_cert(broken_name))["serial"] == serials[broken_name]
    assert site.challenge_rows() == [] and lonely_node.challenge_rows() == []
