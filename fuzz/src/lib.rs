//! The fuzz targets' bodies: the input formats and the invariants every input must keep.
//!
//! Each `fuzz_targets/<name>.rs` calls the function of the same name here. The replay test
//! `crates/certbot-django-hooks/tests/fuzz_corpus.rs` compiles this same file (`#[path]`) and
//! calls the same functions on every committed file of `fuzz/seeds/<name>/` and
//! `fuzz/corpus/<name>/`, so plain `cargo test` on stable Rust checks the corpus with exactly the
//! fuzzer's invariants. A broken invariant panics: libFuzzer reports it as a crash, the test as a
//! failure. (Hence no `crate::` paths in this file: it is a module of two different crates.)
//!
//! The invariants are the promises the rest of the hooks rely on: whatever certbot passes, an
//! accepted challenge only ever yields a token and a host that stay one path segment and one host
//! in every URL and file name built from them; a key that loads can sign a JWT that its own
//! public key verifies; and every error message is one line that cannot forge a log line in
//! certbot's log.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certbot_django_hooks::{
    Challenge, FileConfig, Identifier, KeyError, KeySource, KeyType, MAX_TOKEN_LEN,
    MAX_VALIDATION_LEN, Options, ResolveHost, ResolveRule, Settings, Signer, one_line,
    validate_token, validate_validation,
};
use url::{Host, Url};

/// Longest error message accepted: the longest fixed text plus 64 escaped characters of input
/// (at most 10 bytes each, `\u{10ffff}`) stays well below this.
const MAX_MESSAGE: usize = 1024;

// ---------------------------------------------------------------------------------------------
// certbot_env

/// Splits fuzz input into an environment: `NAME=VALUE` entries separated by NUL bytes, the
/// layout of `/proc/PID/environ` and `env -0`. A real environment cannot hold a NUL, so the
/// separator costs no reachable value. An entry without `=` is skipped, and the first entry of a
/// name wins, as with getenv(3).
pub fn parse_environ(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    data.split(|&b| b == 0)
        .filter_map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=')?;
            Some((&entry[..eq], &entry[eq + 1..]))
        })
        .collect()
}

/// Fuzzes [`Challenge::from_env`] and the validators it is made of, on an environment from
/// [`parse_environ`]. Returns whether the challenge was accepted.
pub fn certbot_env(data: &[u8]) -> bool {
    let environ = parse_environ(data);
    let lookup = |name: &str| -> Option<OsString> {
        environ
            .iter()
            .find(|(key, _)| *key == name.as_bytes())
            .map(|(_, value)| OsString::from_vec(value.to_vec()))
    };
    let text = |name: &str| lookup(name).map(OsString::into_string);

    let result = Challenge::from_env(lookup);
    assert_eq!(
        result,
        Challenge::from_env(lookup),
        "from_env is not a pure function of the environment"
    );
    assert_eq!(
        result.is_ok(),
        spec_accepts_environment(&text),
        "from_env disagrees with the spec on {result:?}"
    );
    match &result {
        Ok(challenge) => check_challenge(challenge, &text),
        Err(e) => check_message(&e.to_string()),
    }

    // The parts on their own, as --resolve and the cleanup hook use them.
    for name in ["CERTBOT_DOMAIN", "CERTBOT_IDENTIFIER"] {
        if let Some(Ok(value)) = text(name) {
            let parsed = Identifier::parse(&value);
            assert_eq!(
                parsed.is_ok(),
                spec_identifier(&value),
                "{value:?}: {parsed:?}"
            );
            match parsed {
                Ok(identifier) => check_identifier(&value, &identifier),
                Err(e) => check_message(&e.to_string()),
            }
        }
    }
    if let Some(Ok(token)) = text("CERTBOT_TOKEN") {
        let checked = validate_token(&token);
        assert_eq!(
            checked.is_ok(),
            spec_token(&token),
            "{token:?}: {checked:?}"
        );
        if let Err(e) = checked {
            check_message(&e.to_string());
        }
        // validate_validation's contract starts from a valid token (from_env checks it first).
        if let (true, Some(Ok(validation))) = (spec_token(&token), text("CERTBOT_VALIDATION")) {
            let checked = validate_validation(&token, &validation);
            assert_eq!(
                checked.is_ok(),
                spec_validation(&token, &validation),
                "{token:?} {validation:?}: {checked:?}"
            );
            if let Err(e) = checked {
                check_message(&e.to_string());
            }
        }
    }
    // cleanup-hook logs CERTBOT_AUTH_OUTPUT (which an auth hook wrote) only through one_line.
    if let Some(output) = lookup("CERTBOT_AUTH_OUTPUT") {
        let shown = one_line(&output.to_string_lossy(), 300);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.chars().count() <= 303, "{shown:?}");
        assert_eq!(shown, shown.trim(), "one_line leaves edge whitespace");
    }
    result.is_ok()
}

/// What certbot's HTTP-01 contract allows, written from the spec rather than from the code:
/// the identifier (`CERTBOT_IDENTIFIER` if set and not empty, else `CERTBOT_DOMAIN`), a token and
/// a validation, all present, UTF-8 and well formed.
fn spec_accepts_environment(text: &dyn Fn(&str) -> Option<Result<String, OsString>>) -> bool {
    let identifier = match text("CERTBOT_IDENTIFIER") {
        Some(Err(_)) => return false,
        Some(Ok(value)) if !value.is_empty() => value,
        _ => match text("CERTBOT_DOMAIN") {
            Some(Ok(value)) => value,
            _ => return false,
        },
    };
    let (Some(Ok(token)), Some(Ok(validation))) =
        (text("CERTBOT_TOKEN"), text("CERTBOT_VALIDATION"))
    else {
        return false;
    };
    spec_identifier(&identifier) && spec_token(&token) && spec_validation(&token, &validation)
}

/// An IP address (IPv6 optionally in brackets), or a host name of LDH labels (RFC 1123 §2.1)
/// that the WHATWG URL parser keeps as that very name: not read as an IPv4 address (a numeric
/// last label: "2130706433" is 127.0.0.1 in a URL), and no invalid punycode.
fn spec_identifier(value: &str) -> bool {
    if value.len() >= 2 && value.starts_with('[') && value.ends_with(']') {
        return value[1..value.len() - 1].parse::<Ipv6Addr>().is_ok();
    }
    if value.parse::<IpAddr>().is_ok() {
        return true;
    }
    let ldh = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = value.to_ascii_lowercase();
    (1..=253).contains(&value.len())
        && value.split('.').all(ldh)
        && Url::parse(&format!("http://{name}/"))
            .is_ok_and(|url| url.host() == Some(Host::Domain(name.as_str())))
}

/// `[A-Za-z0-9_-]{1,127}`: the site stores at most 127 characters.
fn spec_token(token: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&token.len()) && token.bytes().all(is_base64url)
}

/// `<token>.<43 base64url characters>` (RFC 8555 §8.1 key authorization, SHA-256 thumbprint), at
/// most 127 characters in all, as the site stores it.
fn spec_validation(token: &str, validation: &str) -> bool {
    validation.len() <= MAX_VALIDATION_LEN
        && validation
            .strip_prefix(token)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|thumbprint| {
                thumbprint.len() == 43 && thumbprint.bytes().all(is_base64url)
            })
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// An accepted challenge is exactly what certbot passed, and is safe in every URL and path the
/// hooks build from it.
fn check_challenge(challenge: &Challenge, text: &dyn Fn(&str) -> Option<Result<String, OsString>>) {
    let token = challenge.token();
    assert!(spec_token(token), "accepted token {token:?}");
    assert!(
        spec_validation(token, challenge.validation()),
        "accepted validation {:?}",
        challenge.validation()
    );
    assert_eq!(text("CERTBOT_TOKEN"), Some(Ok(token.to_string())));
    assert_eq!(
        text("CERTBOT_VALIDATION"),
        Some(Ok(challenge.validation().to_string()))
    );
    let raw = match text("CERTBOT_IDENTIFIER") {
        Some(Ok(value)) if !value.is_empty() => value,
        _ => text("CERTBOT_DOMAIN")
            .and_then(Result::ok)
            .unwrap_or_default(),
    };
    check_identifier(&raw, challenge.identifier());

    if let Some(all) = challenge.all_domains() {
        assert!(!all.chars().any(char::is_control), "{all:?}");
        assert!(all.chars().count() <= 1024);
    }
    if let Some(n) = challenge.remaining_challenges() {
        let raw = text("CERTBOT_REMAINING_CHALLENGES").and_then(Result::ok);
        assert_eq!(raw.and_then(|v| v.trim().parse().ok()), Some(n));
    }

    // The URLs the hooks build: the self-check and the API, with the default settings.
    let settings = Settings::from_parts(&Options::default(), None).expect("default settings");
    let self_check = settings
        .self_check_url(challenge)
        .expect("an accepted challenge makes a valid self-check URL");
    assert_eq!(self_check.scheme(), "http");
    check_url_host(&self_check, challenge.identifier());
    assert_eq!(
        self_check.path(),
        format!("/.well-known/acme-challenge/{token}")
    );
    let base = settings
        .server_url(challenge.identifier())
        .expect("an accepted identifier makes a valid server URL");
    check_url_host(&base, challenge.identifier());
    // The DELETE target.
    let delete = certbot_django_hooks::challenge_url(&base, token);
    check_url_host(&delete, challenge.identifier());
    assert_eq!(delete.path(), format!("/.well-known/challenges/{token}/"));

    // The legacy per-domain key file: one plain file name inside --key-directory.
    let settings = Settings::from_parts(
        &Options {
            key_directory: Some("/keys".into()),
            ..Options::default()
        },
        None,
    )
    .expect("settings with a key directory");
    let key_path = settings.key_path(challenge.identifier()).expect("key path");
    assert_eq!(key_path.parent(), Some(Path::new("/keys")), "{key_path:?}");
    assert!(
        matches!(
            key_path.components().next_back(),
            Some(Component::Normal(name)) if name.to_str().is_some_and(|n| !n.contains('/'))
        ),
        "{key_path:?}"
    );
}

/// An accepted identifier is the input (lowercased, or the IP address it spells), parses back to
/// itself, and holds nothing that could leave the host part of a URL or a header line.
fn check_identifier(raw: &str, identifier: &Identifier) {
    let shown = identifier.to_string();
    let host = identifier.url_host();
    for text in [&shown, &host] {
        assert!(
            text.bytes().all(|b| b.is_ascii_graphic())
                && !text.contains(['/', '\\', '@', '?', '#', '%', '*', '_']),
            "unsafe identifier {text:?} from {raw:?}"
        );
    }
    match identifier {
        Identifier::Dns(name) => {
            assert_eq!(*name, raw.to_ascii_lowercase());
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'-'),
                "{name:?}"
            );
            assert!((1..=253).contains(&name.len()));
        }
        Identifier::Ip(ip) => {
            let unbracketed = raw
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(raw);
            assert_eq!(unbracketed.parse::<IpAddr>().ok(), Some(*ip));
            assert_eq!(host.starts_with('['), ip.is_ipv6());
        }
    }
    assert_eq!(Identifier::parse(&shown).as_ref(), Ok(identifier));
    assert_eq!(Identifier::parse(&host).as_ref(), Ok(identifier));
    let url = Url::parse(&format!("http://{host}/")).expect("an identifier makes a URL host");
    check_url_host(&url, identifier);
}

/// The URL's host is the identifier itself: not reinterpreted, no user info, no port, no query.
fn check_url_host(url: &Url, identifier: &Identifier) {
    let expected = match identifier {
        Identifier::Dns(name) => Host::Domain(name.as_str()),
        Identifier::Ip(IpAddr::V4(ip)) => Host::Ipv4(*ip),
        Identifier::Ip(IpAddr::V6(ip)) => Host::Ipv6(*ip),
    };
    assert_eq!(url.host(), Some(expected), "{url} for {identifier:?}");
    assert_eq!(url.port(), None, "{url}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{url}"
    );
    assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
}

// ---------------------------------------------------------------------------------------------
// key_pem

/// Fuzzes [`Signer::from_pem`]: a key that loads signs a JWT its own public key verifies, and its
/// public key PEM and `kid` are what asymmetric-jwt-auth computes. Returns whether it loaded.
pub fn key_pem(data: &[u8]) -> bool {
    let signer = match Signer::from_pem(data) {
        Ok(signer) => signer,
        Err(e) => {
            assert_eq!(
                Signer::from_pem(data).err(),
                Some(e.clone()),
                "from_pem is not a pure function of the bytes"
            );
            check_message(&e.to_string());
            return false;
        }
    };
    let again = Signer::from_pem(data).expect("a key that loaded once loads again");
    assert_eq!(again.kid(), signer.kid());
    assert_eq!(again.key_type(), signer.key_type());

    // The public key PEM: one SubjectPublicKeyInfo block, in Python cryptography's layout.
    let public_pem = signer.public_key_pem();
    let block = pem::parse(public_pem).expect("the public key PEM parses");
    assert_eq!(block.tag(), "PUBLIC KEY");
    assert_eq!(
        pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)
        ),
        public_pem,
        "the public key PEM does not round-trip"
    );
    assert!(public_pem.ends_with("-----END PUBLIC KEY-----\n") && !public_pem.contains('\r'));
    assert!(public_pem.lines().all(|line| line.len() <= 64));
    assert_eq!(
        Signer::from_pem(public_pem.as_bytes()).err(),
        Some(KeyError::PublicKeyOnly)
    );

    // kid = hex SHA-256 of exactly that PEM text.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_pem.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signer.kid(), hex);

    // Signing works, and the signature verifies under the public key with the JWT algorithm.
    let (algorithm, verifier): (_, &'static dyn aws_lc_rs::signature::VerificationAlgorithm) =
        match signer.key_type() {
            KeyType::Ed25519 => (
                jsonwebtoken::Algorithm::EdDSA,
                &aws_lc_rs::signature::ED25519,
            ),
            KeyType::Rsa => (
                jsonwebtoken::Algorithm::RS512,
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
            ),
        };
    assert_eq!(signer.algorithm(), algorithm);
    let url = Url::parse("https://example.com/.well-known/challenges/").expect("URL");
    let binding = certbot_django_hooks::RequestBinding::new("POST", &url, b"challenge=t");
    let jwt = certbot_django_hooks::sign(&signer, "certbot", 1_700_000_000, "fuzz-nonce", &binding)
        .expect("a loaded key signs");
    let token = jwt.expose();
    let header = jsonwebtoken::decode_header(token).expect("our JWT header decodes");
    assert_eq!(header.alg, algorithm);
    assert_eq!(header.kid.as_deref(), Some(signer.kid()));
    // Only the claims are read here; the signature is verified with aws-lc-rs below.
    let claims: JwtClaims =
        jsonwebtoken::dangerous::insecure_decode_claims(token).expect("claims decode");
    assert_eq!(
        claims,
        JwtClaims {
            username: "certbot".into(),
            time: 1_700_000_000,
            nonce: "fuzz-nonce".into(),
            htm: "POST".into(),
            htu: "https://example.com/.well-known/challenges/".into(),
            bsh: URL_SAFE_NO_PAD.encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"challenge=t").as_ref()
            ),
        }
    );
    let (signed, signature) = token.rsplit_once('.').expect("three JWT parts");
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    aws_lc_rs::signature::UnparsedPublicKey::new(verifier, block.contents())
        .verify(signed.as_bytes(), &signature)
        .expect("the JWT verifies under the key's own public key");
    // Debug names the key type and kid, nothing else.
    let debug = format!("{signer:?}");
    assert_eq!(
        debug,
        format!(
            "Signer {{ key_type: {:?}, kid: {:?}, .. }}",
            signer.key_type(),
            signer.kid()
        )
    );
    true
}

/// asymmetric_jwt_auth's claims, as the site reads them, and the request binding.
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
struct JwtClaims {
    username: String,
    time: u64,
    nonce: String,
    htm: String,
    htu: String,
    bsh: String,
}

// ---------------------------------------------------------------------------------------------
// config_toml

/// Where the fuzzed config file pretends to live: relative paths in it resolve against this.
const CONFIG_PATH: &str = "/etc/letsencrypt/django-hooks.toml";

/// Fuzzes the config file parser ([`FileConfig::parse`]), the settings built from it, and
/// `--resolve` rules ([`ResolveRule::parse`]), both on the whole input and on each line.
/// Returns whether the input made valid settings.
pub fn config_toml(data: &[u8]) -> bool {
    // Config files are read with read_to_string: text that is not UTF-8 never gets this far.
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    check_resolve(text);
    for line in text.lines() {
        check_resolve(line);
    }

    let config = match FileConfig::parse(text) {
        Ok(config) => config,
        Err(message) => {
            // parse() keeps the TOML parser's caret drawing on its own lines, each one clean.
            assert!(message.lines().count() <= 8, "{message:?}");
            for line in message.lines() {
                check_message(line);
            }
            return false;
        }
    };
    assert_eq!(FileConfig::parse(text).as_ref(), Ok(&config));
    let settings = match Settings::from_parts(
        &Options::default(),
        Some((CONFIG_PATH.into(), config.clone())),
    ) {
        Ok(settings) => settings,
        Err(e) => {
            check_message(&e.to_string());
            return false;
        }
    };
    assert!((1..=3600).contains(&settings.timeout.as_secs()));
    assert_eq!(
        settings.timeout,
        Duration::from_secs(config.timeout.unwrap_or(60))
    );
    assert_eq!(settings.self_check, config.self_check.unwrap_or(true));
    assert_eq!(
        settings.username,
        config.username.as_deref().unwrap_or("certbot")
    );
    assert_eq!(
        settings.resolve.len(),
        config.resolve.as_ref().map_or(0, Vec::len)
    );
    let key_path = match &settings.key {
        Some(KeySource::File(path)) | Some(KeySource::Directory(path)) => Some(path),
        None => None,
    };
    for path in key_path.into_iter().chain(settings.ca_bundle.as_ref()) {
        assert!(path.is_absolute(), "{path:?}");
        assert!(
            path.starts_with("/etc/letsencrypt") || config_paths(&config).any(|p| p == path),
            "{path:?} is neither relative to the config file nor as written"
        );
    }

    // The templates were validated with these sample values, so they must build valid URLs.
    let identifier = Identifier::parse("example.com").expect("identifier");
    let validation = format!("tok.{}", "A".repeat(43));
    let challenge =
        Challenge::for_identifier(identifier.clone(), "tok", &validation).expect("challenge");
    for url in [
        settings.server_url(&identifier).expect("server URL"),
        settings.self_check_url(&challenge).expect("self-check URL"),
    ] {
        assert!(matches!(url.scheme(), "http" | "https"), "{url}");
        assert!(url.host().is_some(), "{url}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{url}"
        );
        assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
    }
    // Other identifiers may not fit a template (a port glued to an IPv6 host), but must not panic.
    for other in ["2001:db8::1", "192.0.2.1", "xn--bcher-kva.example"] {
        let identifier = Identifier::parse(other).expect("identifier");
        let _ = settings.server_url(&identifier);
        let other = Challenge::for_identifier(identifier, "tok", &validation).expect("challenge");
        let _ = settings.self_check_url(&other);
    }
    true
}

fn config_paths(config: &FileConfig) -> impl Iterator<Item = &PathBuf> {
    [&config.key_file, &config.key_directory, &config.ca_bundle]
        .into_iter()
        .flatten()
}

/// A `--resolve` rule that parses names a valid host (lowercased) or `*` and at least one address.
fn check_resolve(value: &str) {
    let rule = match ResolveRule::parse(value) {
        Ok(rule) => rule,
        Err(message) => {
            check_message(&message);
            return;
        }
    };
    assert!(!rule.addrs.is_empty(), "{value:?}");
    let (host, _) = value.split_once(':').expect("a rule has a ':'");
    match &rule.host {
        ResolveHost::Any => assert_eq!(host, "*"),
        ResolveHost::Name(name) => {
            assert_eq!(*name, host.to_ascii_lowercase());
            assert_eq!(
                Identifier::parse(name),
                Ok(Identifier::Dns(name.clone())),
                "{value:?}"
            );
            assert_eq!(
                ResolveRule::lookup(std::slice::from_ref(&rule), &host.to_ascii_uppercase()),
                Some(rule.addrs.clone())
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// An error message goes to stderr and so into certbot's log: one line, no control characters
/// (no forged log lines, no terminal escapes), bounded however long the input.
fn check_message(message: &str) {
    assert!(
        !message.chars().any(char::is_control),
        "control character in error message {message:?}"
    );
    assert!(
        message.len() <= MAX_MESSAGE,
        "{} bytes: {message:?}",
        message.len()
    );
}
