"""The demo: a certificate issued and renewed through the hooks, locally, on the real chain.

certbot -> auth-hook -> example Django site -> /.well-known/acme-challenge/ <- Pebble (the test CA).
Run it through `scripts/demo`, which installs and builds what it needs first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import harness as h

DOMAINS = ["demo.example.com", "www.demo.example.com"]


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def report(
    what: str, result: subprocess.CompletedProcess[str], certbot: h.Certbot, site: h.Site
) -> dict[str, str] | None:
    """Print the certificate certbot saved, or why it failed (None)."""
    if result.returncode != 0:
        print(result.stdout, result.stderr, certbot.log()[-3000:], sep="\n", file=sys.stderr)
        return None
    info = h.cert_info(certbot.live_cert(DOMAINS[0]))
    print(f"    {what}: serial {info['serial']}, names {info['names']}, expires {info['not_after']}")
    print(f"    challenges left on the site: {len(site.challenge_rows())}")
    return info


def main() -> int:
    h.require_built_hooks()
    work = h.ROOT / ".work" / "demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pebble = h.Pebble(work / "pebble")
    site = h.Site(work / "site")
    certbot = h.Certbot(work / "certbot", pebble)

    step(f"starting Pebble (ACME directory {pebble.directory}) and the example site on {site.url}")
    with h.running(pebble, site):
        key = work / "certbot.key"
        step(f"creating an Ed25519 key with `auth-hook keygen --key-file {key}`")
        public = h.keygen(key)
        step("registering it: python manage.py certbot_client certbot --public-key-file ...")
        print(site.register_key("certbot", public).rstrip())

        config = work / "django-hooks.toml"
        config.write_text(
            "# The hooks' settings; certbot saves only the hook command lines, which name this file.\n"
            f'server = "{site.url}"\n'
            'username = "certbot"\n'
            f'key_file = "{key}"\n'
            "# Locally every demo name is served by the site on this port.\n"
            f'self_check_url = "http://{{domain}}:{site.port}/.well-known/acme-challenge/{{token}}"\n'
            'resolve = ["*:127.0.0.1"]\n'
        )
        step(f"issuing a certificate for {', '.join(DOMAINS)} with certbot --manual and the hooks")
        args = certbot.certonly_args(DOMAINS, ["--config", str(config)])
        shown = ["certbot", "..."] + args[len(certbot.base_args()) :]
        print("    " + " ".join(a if " " not in a else f"'{a}'" for a in shown))
        first = report("issued", certbot.run(args), certbot, site)
        if first is None:
            return 1

        step("renewing it: certbot renew --force-renewal (only what certbot saved in its renewal config)")
        second = report("renewed", certbot.renew("--force-renewal"), certbot, site)
        if second is None:
            return 1
        step("stopping Pebble and the site")

    print()
    print(f"Certificate: {certbot.live_cert(DOMAINS[0])}")
    print(f"Private key: {certbot.live_cert(DOMAINS[0]).with_name('privkey.pem')}")
    print(f"Expires:     {second['not_after']}")
    print(f"Renewal config (the saved hook lines): {certbot.config_dir / 'renewal' / (DOMAINS[0] + '.conf')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except h.HarnessError as error:
        # The message says what failed and what to run; a traceback would only bury it.
        print(f"demo: {error}", file=sys.stderr)
        sys.exit(1)
    except subprocess.CalledProcessError as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr or ""
        command = " ".join(map(str, error.cmd))
        print(f"demo: {command} failed with status {error.returncode}: {stderr.strip()}", file=sys.stderr)
        sys.exit(1)
