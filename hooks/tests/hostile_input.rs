//! Hostile or malformed certbot input (tokens, domains, validations, a DNS-01 run) is refused
//! before anything reaches the site.

use hook_test_support::{
    Serving, assert_refused_before_sending, certbot_env_with, fake_site, hook_args_with, keyed_dir,
    run,
};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn hostile_tokens_never_reach_the_server() {
    let long = "a".repeat(300);
    assert_refused_before_sending(
        BIN,
        "badtoken",
        "CERTBOT_TOKEN",
        &["../x", "a b", "x\ny", "", long.as_str()],
        "auth-hook: error: invalid certbot environment, nothing was sent: CERTBOT_TOKEN",
    );
}

#[test]
fn hostile_domains_never_reach_the_server() {
    assert_refused_before_sending(
        BIN,
        "baddomain",
        "CERTBOT_DOMAIN",
        &[
            "a.com/x?",
            "u@evil.com",
            "-a.com",
            "a.com\r\nX-Injected: 1",
            "a.com\n",
            "*.example.test",
        ],
        "invalid certbot environment, nothing was sent: the identifier",
    );
}

#[test]
fn a_missing_token_means_dns01_and_says_to_use_http01() {
    let (_dir, key) = keyed_dir("notoken");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run(
        BIN,
        &hook_args_with(site.port(), &key, 5, &[]),
        &certbot_env_with("CERTBOT_TOKEN", None),
    );
    out.assert_failure();
    assert_eq!(
        out.stderr,
        "auth-hook: error: invalid certbot environment, nothing was sent: CERTBOT_TOKEN is not set: \
         certbot is running a challenge other than HTTP-01 (DNS-01, as for a wildcard name?). These \
         hooks support only HTTP-01: pass --preferred-challenges http to certbot\n"
    );
    assert_eq!(site.count(), 0);
}

#[test]
fn a_malformed_validation_never_reaches_the_server() {
    assert_refused_before_sending(
        BIN,
        "badvalidation",
        "CERTBOT_VALIDATION",
        &[
            "nodot",
            "other.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ",
            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.short",
        ],
        "nothing was sent: CERTBOT_VALIDATION",
    );
}
