"""One request per certificate (issue 22), told as stories: real certbot, Pebble, the example site and the release
hooks, the requests counted in the site's own access log (gunicorn's), the CA's validations in Pebble's log.

certbot runs one auth hook per challenge with CERTBOT_REMAINING_CHALLENGES counting down to 0 and answers no
challenge before the last one returned; the hooks keep the earlier challenges in a private spool and the last one
pushes them all in one request. The cleanup hooks delete them all in one request. What must hold:

* a 100-name certificate, issued and renewed, costs the site one batch push and one batch delete per issuance, and
  no single push or delete;
* a certbot run killed after some deferred auth hooks leaves nothing that changes the next run: the next run issues,
  pushes only its own challenges, and no spool of the dead run remains;
* a refused batch under `certonly` costs the CA no validation: certbot is stopped, no challenge row is left;
* dehydrated with HOOK_CHAIN=yes sends its chain as one batch, and one by one without it; `--no-batch` pushes one by
  one.

The hooks' temporary directory (TMPDIR, which certbot hands on to them) is one of the story's own, so that a spool
left behind is seen. The original certbot-django server's fallback is in tests/test_legacy_compat.py.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dehydrated_uacme import DEHYDRATED_HOOK, Dehydrated, write_hooks_config

import harness as h
from harness import hook_args

# gunicorn's access log, one line per request: method, path, status.
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s"
API_CALLS = (
    ("batch push", "POST", re.compile(r"/\.well-known/challenge-batch/?")),
    ("batch delete", "POST", re.compile(r"/\.well-known/challenge-batch/delete/?")),
    ("push", "POST", re.compile(r"/\.well-known/challenges/?")),
    ("delete", "DELETE", re.compile(r"/\.well-known/challenges/[A-Za-z0-9_-]+/?")),
)


def logged_site(workdir: Path, **extra_env: str) -> h.Site:
    """The example site under gunicorn, writing every request it answers to `workdir`/access.log."""
    return h.Site(
        workdir,
        extra_env=extra_env,
        server_args=("--access-logfile", str(workdir / "access.log"), "--access-logformat", ACCESS_LOG_FORMAT),
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[h.Site]:
    """The conftest's site, with an access log (conftest's `key` registers its key on this one)."""
    s = logged_site(tmp_path / "site")
    with h.running(s):
        yield s


def api_calls(site: h.Site) -> list[tuple[str, int]]:
    """(kind, status) of every API call the site answered so far, in order: kind is "batch push", "batch delete",
    "push" or "delete". The CA's and the self-check's GETs of the challenges are not API calls."""
    log = site.workdir / "access.log"
    calls = []
    for line in log.read_text().splitlines() if log.exists() else []:
        method, path, status = line.split(" ")
        for kind, kind_method, pattern in API_CALLS:
            if method == kind_method and pattern.fullmatch(path):
                calls.append((kind, int(status)))
                break
    return calls


def kinds(calls: list[tuple[str, int]]) -> list[str]:
    return [kind for kind, _ in calls]


def pushed_tokens(site: h.Site) -> list[str]:
    """The token of every push the site audited (one record per item of a batch), oldest first."""
    records = json.loads(site.manage("site_data", "audit", "--action", "push").strip().splitlines()[-1])
    return [record["token"] for record in records if record["status"] == 201]


@pytest.fixture
def hooks_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory certbot, and so the hooks, get: where a spool lives."""
    directory = tmp_path / "hooks-tmp"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("TMPDIR", str(directory))
    return directory


def files_under(directory: Path) -> list[Path]:
    """Every file below `directory` that is not a directory: a spool, or what is left of one."""
    return sorted(p for p in directory.rglob("*") if not stat.S_ISDIR(p.lstat().st_mode))


def assert_issued(
    result: subprocess.CompletedProcess[str], certbot: h.Certbot, name: str, domains: list[str]
) -> dict[str, str]:
    assert result.returncode == 0, f"certbot failed:\n{result.stderr}\n{certbot.log()[-4000:]}"
    info = h.cert_info(certbot.live_cert(name))
    assert sorted(info["names"].split(",")) == sorted(domains)
    return info


def test_a_100_name_certificate_is_issued_and_renewed_with_one_push_and_one_delete_each_time(
    site: h.Site, key: Path, certbot: h.Certbot, pebble: h.Pebble, hooks_tmpdir: Path
) -> None:
    domains = [f"n{i:03}.batch.example.com" for i in range(100)]

    first = assert_issued(certbot.certonly(domains, hook_args(site, key)), certbot, domains[0], domains)

    issuance = api_calls(site)
    assert issuance == [("batch push", 201), ("batch delete", 200)], issuance
    # The one push carried every challenge: the site audited 100 pushes, the CA validated each name once.
    assert len(set(pushed_tokens(site))) == 100
    assert [pebble.validations(d) for d in domains] == [1] * 100
    assert site.challenge_rows() == []
    assert files_under(hooks_tmpdir) == [], "the run left its spool behind"

    renewed = certbot.renew("--force-renewal")

    assert renewed.returncode == 0, f"renew failed:\n{renewed.stderr}\n{certbot.log()[-4000:]}"
    second = h.cert_info(certbot.live_cert(domains[0]))
    assert second["serial"] != first["serial"]
    renewal = api_calls(site)[len(issuance) :]
    assert renewal == [("batch push", 201), ("batch delete", 200)], renewal
    # Pebble may reuse an authorization now and then: what the renewal validated went through its one push.
    validated = sum(pebble.validations(d) for d in domains) - 100
    assert validated >= 1 and len(set(pushed_tokens(site))) == 100 + validated
    assert site.challenge_rows() == []
    assert files_under(hooks_tmpdir) == []


KILLING_AUTH_HOOK = """#!/bin/sh
# The auth hook as certbot runs it, but when CERTBOT_REMAINING_CHALLENGES reaches $1, certbot (this hook's nearest
# ancestor named certbot) is killed with SIGKILL, as by the OOM killer or a power cut: no cleanup hook runs.
# Every call's remaining count and token go to $2 first.
kill_at=$1 record=$2
shift 2
echo "$CERTBOT_REMAINING_CHALLENGES $CERTBOT_TOKEN" >> "$record"
if [ "$CERTBOT_REMAINING_CHALLENGES" = "$kill_at" ]; then
    pid=$PPID
    while [ "$pid" -gt 1 ]; do
        if [ "$(cat /proc/$pid/comm)" = certbot ]; then
            kill -KILL "$pid"
            exit 1
        fi
        pid=$(sed 's/.*) . //' /proc/$pid/stat | cut -d' ' -f1)
    done
    echo "no certbot among this hook's ancestors" >&2
    exit 1
fi
exec "$@"
"""


def test_a_run_killed_after_deferred_auth_hooks_leaves_nothing_that_changes_the_next_run(
    site: h.Site, key: Path, certbot: h.Certbot, pebble: h.Pebble, hooks_tmpdir: Path, tmp_path: Path
) -> None:
    domains = [f"k{i}.batch.example.com" for i in range(6)]
    wrapper = tmp_path / "killing-auth-hook"
    wrapper.write_text(KILLING_AUTH_HOOK)
    wrapper.chmod(0o755)

    def run(kill_at: int, record: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        args = certbot.certonly_args(domains, hook_args(site, key))
        auth = args.index("--manual-auth-hook") + 1
        args[auth] = f"{wrapper} {kill_at} {record} {args[auth]}"
        result = certbot.run(args)
        return result, [line.split(" ")[1] for line in record.read_text().splitlines()]

    # Killed at the auth hook with 2 remaining: the hooks of 5, 4 and 3 remaining deferred their challenges.
    dead, dead_tokens = run(2, tmp_path / "dead-run.tokens")

    assert dead.returncode == -9, dead
    assert len(dead_tokens) == 4
    assert certbot.running_pids() == []
    assert api_calls(site) == [], "a deferred auth hook made a request"
    assert site.challenge_rows() == []
    assert files_under(hooks_tmpdir) != [], "the deferred auth hooks spooled nothing (is the spool in TMPDIR?)"
    assert [pebble.validations(d) for d in domains] == [0] * 6

    result, tokens = run(-1, tmp_path / "next-run.tokens")

    assert_issued(result, certbot, domains[0], domains)
    assert len(tokens) == 6 and not set(tokens) & set(dead_tokens)
    assert api_calls(site) == [("batch push", 201), ("batch delete", 200)]
    # Only its own challenges were pushed: none of the dead run's tokens reached the site.
    assert sorted(pushed_tokens(site)) == sorted(tokens)
    assert [pebble.validations(d) for d in domains] == [1] * 6
    assert site.challenge_rows() == []
    assert files_under(hooks_tmpdir) == [], "the dead run's spool (or this run's) is still there"


@pytest.fixture
def site_refusing_one_name(tmp_path: Path) -> Iterator[h.Site]:
    allowed = ",".join(f"r{i}.batch.example.com" for i in range(10) if i != 6)
    s = logged_site(tmp_path / "site", ACME_CHALLENGE_ALLOWED_DOMAINS=allowed)
    with h.running(s):
        yield s


def test_a_refused_batch_stops_certbot_before_the_ca_validates_anything_and_leaves_no_rows(
    site_refusing_one_name: h.Site, certbot: h.Certbot, pebble: h.Pebble, tmp_path: Path, hooks_tmpdir: Path
) -> None:
    site = site_refusing_one_name
    key_file = tmp_path / "certbot.key"
    site.register_key("certbot", h.keygen(key_file))
    domains = [f"r{i}.batch.example.com" for i in range(10)]

    result = certbot.certonly(domains, hook_args(site, key_file))

    assert result.returncode != 0
    assert not certbot.live_cert(domains[0]).exists()
    assert [pebble.validations(d) for d in domains] == [0] * 10, result.stderr
    assert certbot.running_pids() == []
    assert site.challenge_rows() == []
    calls = api_calls(site)
    # One batch, refused whole (all or nothing); no single push after it, which would store the nine others.
    assert [kind for kind in kinds(calls) if "push" in kind] == ["batch push"], calls
    assert 400 <= calls[0][1] < 500, calls
    assert pushed_tokens(site) == []


def test_no_batch_pushes_and_deletes_one_challenge_per_request(
    site: h.Site, key: Path, certbot: h.Certbot, hooks_tmpdir: Path
) -> None:
    domains = [f"s{i}.batch.example.com" for i in range(3)]

    assert_issued(certbot.certonly(domains, hook_args(site, key, "--no-batch")), certbot, domains[0], domains)

    assert kinds(api_calls(site)) == ["push"] * 3 + ["delete"] * 3
    assert site.challenge_rows() == []
    assert files_under(hooks_tmpdir) == []


@pytest.fixture
def dehydrated(tmp_path: Path, pebble: h.Pebble, site: h.Site, key: Path) -> Dehydrated:
    h.require_built_hooks((DEHYDRATED_HOOK,), ("dehydrated",))
    client = Dehydrated(tmp_path / "dehydrated", pebble, write_hooks_config(tmp_path / "django-hooks.toml", site, key))
    client.configure(hook_chain=True)
    client.register()
    return client


def test_dehydrated_sends_its_hook_chain_as_one_batch_and_one_by_one_without_it(
    dehydrated: Dehydrated, site: h.Site, pebble: h.Pebble
) -> None:
    domains = ["chain.batch.example.com", "www.chain.batch.example.com", "api.chain.batch.example.com"]

    chained = dehydrated.cron(domains)

    assert chained.returncode == 0, f"dehydrated failed:\n{chained.stdout}\n{chained.stderr}"
    issuance = api_calls(site)
    assert issuance == [("batch push", 201), ("batch delete", 200)], issuance
    assert site.challenge_rows() == []

    dehydrated.configure(hook_chain=False)
    validated_before = sum(pebble.validations(d) for d in domains)
    one_by_one = dehydrated.cron(domains, "--force")

    assert one_by_one.returncode == 0, f"dehydrated --force failed:\n{one_by_one.stdout}\n{one_by_one.stderr}"
    renewal = kinds(api_calls(site)[len(issuance) :])
    # One deploy_challenge and one clean_challenge call per challenge, each a request of its own (a single push, or
    # a batch of one: both carry one challenge). Pebble now and then reuses a valid authorization even with
    # PEBBLE_AUTHZREUSE=0: the challenges are those the CA validated.
    validated = sum(pebble.validations(d) for d in domains) - validated_before
    pushes = [kind for kind in renewal if kind in ("push", "batch push")]
    deletes = [kind for kind in renewal if kind in ("delete", "batch delete")]
    assert validated >= 1 and (len(pushes), len(deletes), len(renewal)) == (validated, validated, 2 * validated), (
        renewal
    )
    assert site.challenge_rows() == []
