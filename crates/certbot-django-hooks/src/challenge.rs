//! The certbot environment turned into a validated [`Challenge`].
//!
//! certbot hands the hooks everything through `CERTBOT_*` variables. They end up in URLs, file
//! names and HTTP bodies, so they are checked strictly here, before any key is read or any byte is
//! sent. Everything in this module is a pure function of a variable lookup, so it can be unit
//! tested and fuzzed without touching the process environment.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::text::{echo, plain_value};

/// Longest token accepted. RFC 8555 tokens are 43 characters; certbot passes them through. The
/// site stores at most 127 characters per value, and refuses longer ones with the same limit.
pub const MAX_TOKEN_LEN: usize = 127;
/// Longest validation (key authorization) accepted: the site stores at most 127 characters.
/// `<token>.<43-character thumbprint>`, so a token longer than 83 characters cannot have one.
pub const MAX_VALIDATION_LEN: usize = 127;
/// Length of an unpadded base64url SHA-256 JWK thumbprint, the second half of a key
/// authorization (RFC 8555 §8.1).
const THUMBPRINT_LEN: usize = 43;
/// Longest hostname in presentation format (RFC 1035 §2.3.4, without the trailing dot).
const MAX_HOSTNAME_LEN: usize = 253;

/// The identifier being validated: a hostname or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    /// A DNS name made of letter-digit-hyphen labels, lowercased.
    Dns(String),
    /// An IP address identifier (RFC 8738).
    Ip(IpAddr),
}

impl Identifier {
    /// Parses and validates an identifier as certbot passes it.
    ///
    /// IPv6 addresses may come bare or bracketed. Hostnames must be LDH labels of 1 to 63
    /// characters, not starting or ending with a hyphen, at most 253 characters in all.
    pub fn parse(value: &str) -> Result<Self, ChallengeError> {
        let invalid = |reason: &'static str| ChallengeError::InvalidIdentifier {
            value: echo(value),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        let unbracketed = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
        if let Some(inner) = unbracketed {
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Identifier::Ip(IpAddr::V6(ip)))
                .map_err(|_| invalid("brackets must enclose an IPv6 address"));
        }
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(Identifier::Ip(ip));
        }
        if value.starts_with("*.") {
            return Err(invalid(
                "wildcard names need the DNS-01 challenge, which these hooks do not support",
            ));
        }
        if value.len() > MAX_HOSTNAME_LEN {
            return Err(invalid("a hostname has at most 253 characters"));
        }
        for label in value.split('.') {
            if label.is_empty() {
                return Err(invalid(
                    "it has an empty label (two dots in a row, or a leading or trailing dot)",
                ));
            }
            if label.len() > 63 {
                return Err(invalid("a label has more than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(invalid(
                    "a hostname may only contain letters, digits, hyphens and dots",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label starts or ends with a hyphen"));
            }
        }
        let name = value.to_ascii_lowercase();
        // The hooks' URLs go through the WHATWG URL parser (the url crate, under reqwest), which
        // reads a host whose last label is a number as an IPv4 address ("2130706433" is
        // 127.0.0.1, "1.2.3" is 1.2.0.3) and refuses invalid punycode. Found by fuzzing
        // (fuzz/, target certbot_env). No DNS name of a certificate ends in a numeric label.
        match url::Host::parse(&name) {
            Ok(url::Host::Domain(host)) if host == name => Ok(Identifier::Dns(name)),
            Ok(url::Host::Ipv4(_)) | Err(url::ParseError::InvalidIpv4Address) => Err(invalid(
                "its last label is a number, so URLs would read it as an IPv4 address",
            )),
            _ => Err(invalid("an xn-- label is not valid punycode (IDNA)")),
        }
    }

    /// The identifier as it goes into a URL authority: IPv6 addresses bracketed.
    pub fn url_host(&self) -> String {
        match self {
            Identifier::Dns(name) => name.clone(),
            Identifier::Ip(IpAddr::V4(ip)) => ip.to_string(),
            Identifier::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Dns(name) => f.write_str(name),
            Identifier::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One HTTP-01 challenge, validated. Its fields are private: a `Challenge` exists only as the
/// result of parsing ([`Challenge::from_env`], [`Challenge::parse`]), so holding one proves its
/// values were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The name or address being validated (`CERTBOT_IDENTIFIER`, else `CERTBOT_DOMAIN`).
    identifier: Identifier,
    /// The token: `[A-Za-z0-9_-]{1,127}`.
    token: String,
    /// The key authorization to serve: `<token>.<thumbprint>`, at most 127 characters.
    validation: String,
    /// `CERTBOT_REMAINING_CHALLENGES`, kept for logging.
    remaining_challenges: Option<u32>,
    /// `CERTBOT_ALL_DOMAINS`, kept for logging (already stripped of control characters).
    all_domains: Option<String>,
}

/// What is wrong with the certbot environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// `CERTBOT_TOKEN` is unset: certbot asked for a DNS-01 challenge.
    #[error(
        "CERTBOT_TOKEN is not set: certbot is running a challenge other than HTTP-01 (DNS-01, as \
         for a wildcard name?). These hooks support only HTTP-01: pass --preferred-challenges http \
         to certbot"
    )]
    MissingToken,
    /// A required variable is unset. The hooks are meant to be run by certbot.
    #[error(
        "{0} is not set: run this hook from certbot (certbot certonly --manual \
         --manual-auth-hook auth-hook --manual-cleanup-hook cleanup-hook)"
    )]
    Missing(&'static str),
    /// A variable is not valid UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// The token has characters or a length outside `[A-Za-z0-9_-]{1,127}`.
    #[error("CERTBOT_TOKEN {value} is invalid: {reason}")]
    InvalidToken {
        /// The value, escaped and shortened.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The validation is not `<token>.<base64url thumbprint>`.
    #[error("CERTBOT_VALIDATION {value} is invalid: {reason}")]
    InvalidValidation {
        /// The value, escaped and shortened.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The identifier is neither an LDH hostname nor an IP address.
    #[error("the identifier {value} (CERTBOT_IDENTIFIER or CERTBOT_DOMAIN) is invalid: {reason}")]
    InvalidIdentifier {
        /// The value, escaped and shortened.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Checks a token against `[A-Za-z0-9_-]{1,127}`.
pub fn validate_token(token: &str) -> Result<(), ChallengeError> {
    let invalid = |reason| ChallengeError::InvalidToken {
        value: echo(token),
        reason,
    };
    if token.is_empty() {
        return Err(invalid("it is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid(
            "it is longer than 127 characters, the most the site stores",
        ));
    }
    if !token.bytes().all(is_base64url_byte) {
        return Err(invalid(
            "it may only contain letters, digits, '-' and '_' (base64url)",
        ));
    }
    Ok(())
}

/// Checks that a validation is `<token>.<43 base64url characters>`, at most 127 characters.
pub fn validate_validation(token: &str, validation: &str) -> Result<(), ChallengeError> {
    let invalid = |reason| ChallengeError::InvalidValidation {
        value: echo(validation),
        reason,
    };
    let Some((prefix, thumbprint)) = validation.split_once('.') else {
        return Err(invalid("it must be <token>.<thumbprint>, and has no '.'"));
    };
    if prefix != token {
        return Err(invalid("the part before the '.' is not CERTBOT_TOKEN"));
    }
    if thumbprint.len() != THUMBPRINT_LEN || !thumbprint.bytes().all(is_base64url_byte) {
        return Err(invalid(
            "the part after the '.' must be 43 base64url characters (a SHA-256 thumbprint)",
        ));
    }
    if validation.len() > MAX_VALIDATION_LEN {
        return Err(invalid(
            "it is longer than 127 characters, the most the site stores",
        ));
    }
    Ok(())
}

impl Challenge {
    /// Parses one challenge from its three values as a client passes them (dehydrated's and
    /// uacme's arguments): the identifier, the token, and the key authorization to serve.
    pub fn parse(identifier: &str, token: &str, validation: &str) -> Result<Self, ChallengeError> {
        Self::for_identifier(Identifier::parse(identifier)?, token, validation)
    }

    /// [`Self::parse`] for an identifier already parsed (`auth-hook check`'s probe).
    pub fn for_identifier(
        identifier: Identifier,
        token: &str,
        validation: &str,
    ) -> Result<Self, ChallengeError> {
        validate_token(token)?;
        validate_validation(token, validation)?;
        Ok(Challenge {
            identifier,
            token: token.to_string(),
            validation: validation.to_string(),
            remaining_challenges: None,
            all_domains: None,
        })
    }

    /// Adds the logging-only context of a run of several challenges: how many follow this one,
    /// and every name of the certificate (cleaned, as it is only shown).
    pub fn with_context(mut self, remaining: u32, all_domains: &str) -> Self {
        self.remaining_challenges = Some(remaining);
        self.all_domains = Some(plain_value(all_domains, 1024));
        self
    }

    /// The name or address being validated.
    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    /// The token: `[A-Za-z0-9_-]{1,127}`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The key authorization to serve: `<token>.<thumbprint>`.
    pub fn validation(&self) -> &str {
        &self.validation
    }

    /// How many challenges follow this one (certbot's `CERTBOT_REMAINING_CHALLENGES`), for logs.
    pub fn remaining_challenges(&self) -> Option<u32> {
        self.remaining_challenges
    }

    /// Every name of the certificate (certbot's `CERTBOT_ALL_DOMAINS`), cleaned, for logs.
    pub fn all_domains(&self) -> Option<&str> {
        self.all_domains.as_deref()
    }

    /// Reads and validates the challenge from a `CERTBOT_*` variable lookup.
    ///
    /// In the hooks the lookup is `std::env::var_os`; tests and fuzzers pass a map.
    pub fn from_env<F>(lookup: F) -> Result<Self, ChallengeError>
    where
        F: Fn(&str) -> Option<OsString>,
    {
        let get = |name: &'static str| -> Result<Option<String>, ChallengeError> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|_| ChallengeError::NotUtf8(name)),
            }
        };
        let identifier = match get("CERTBOT_IDENTIFIER")? {
            Some(v) if !v.is_empty() => v,
            _ => get("CERTBOT_DOMAIN")?.ok_or(ChallengeError::Missing("CERTBOT_DOMAIN"))?,
        };
        let identifier = Identifier::parse(&identifier)?;
        let token = get("CERTBOT_TOKEN")?.ok_or(ChallengeError::MissingToken)?;
        validate_token(&token)?;
        let validation =
            get("CERTBOT_VALIDATION")?.ok_or(ChallengeError::Missing("CERTBOT_VALIDATION"))?;
        validate_validation(&token, &validation)?;
        // Logging-only values: never fatal, never echoed raw.
        let remaining_challenges = get("CERTBOT_REMAINING_CHALLENGES")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse().ok());
        let all_domains = get("CERTBOT_ALL_DOMAINS")
            .ok()
            .flatten()
            .map(|v| plain_value(&v, 1024));
        Ok(Challenge {
            identifier,
            token,
            validation,
            remaining_challenges,
            all_domains,
        })
    }
}

fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const THUMB: &str = "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            ("CERTBOT_DOMAIN", "Example.COM".into()),
            ("CERTBOT_TOKEN", TOKEN.into()),
            ("CERTBOT_VALIDATION", format!("{TOKEN}.{THUMB}")),
        ]
    }

    fn parse_with(overrides: &[(&'static str, Option<&str>)]) -> Result<Challenge, ChallengeError> {
        let mut vars = good();
        for (k, v) in overrides {
            vars.retain(|(name, _)| name != k);
            if let Some(v) = v {
                vars.push((k, v.to_string()));
            }
        }
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Challenge::from_env(env(&pairs))
    }

    #[test]
    fn a_certbot_http01_environment_becomes_a_challenge() {
        let c =
            parse_with(&[("CERTBOT_ALL_DOMAINS", Some("example.com,www.example.com"))]).unwrap();
        assert_eq!(c.identifier, Identifier::Dns("example.com".into()));
        assert_eq!(c.token, TOKEN);
        assert_eq!(c.validation, format!("{TOKEN}.{THUMB}"));
        assert_eq!(
            c.all_domains.as_deref(),
            Some("example.com,www.example.com")
        );
    }

    #[test]
    fn certbot_identifier_wins_over_certbot_domain() {
        let c = parse_with(&[("CERTBOT_IDENTIFIER", Some("192.0.2.7"))]).unwrap();
        assert_eq!(c.identifier, Identifier::Ip("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn missing_token_says_only_http01_is_supported() {
        let err = parse_with(&[("CERTBOT_TOKEN", None)]).unwrap_err();
        assert_eq!(err, ChallengeError::MissingToken);
        assert!(err.to_string().contains("--preferred-challenges http"));
    }

    #[test]
    fn hostile_tokens_are_refused() {
        for bad in ["../x", "a b", "x\ny", "", &"a".repeat(300), "a/b", "tok%2e"] {
            let err = validate_token(bad).unwrap_err();
            assert!(
                matches!(err, ChallengeError::InvalidToken { .. }),
                "{bad:?}"
            );
        }
        validate_token(&"a".repeat(127)).unwrap();
        let err = validate_token(&"a".repeat(128)).unwrap_err().to_string();
        assert!(err.contains("longer than 127 characters"), "{err}");
    }

    #[test]
    fn a_long_token_is_echoed_shortened_and_escaped() {
        let msg = validate_token(&format!("x\n{}", "a".repeat(300)))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"x\\naaa"), "{msg}");
        assert!(msg.contains("(and 238 more characters)"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn hostile_domains_are_refused() {
        for bad in [
            "a.com/x?",
            "u@evil.com",
            "-a.com",
            "a-.com",
            "a.com\r\nHost: evil",
            "a.com\n",
            "a..com",
            ".a.com",
            "a.com.",
            "*.a.com",
            "a_b.com",
            "",
            "[1.2.3.4]",
            "ex\u{e4}mple.com",
        ] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert!(Identifier::parse(&long).is_err());
        assert!(Identifier::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn names_that_urls_would_read_as_ipv4_or_refuse_are_refused() {
        for (bad, reason) in [
            ("20", "IPv4"),
            ("2130706433", "IPv4"),
            ("0x7f.1", "IPv4"),
            ("1.2.3", "IPv4"),
            ("a.123", "IPv4"),
            ("example.0x7f", "IPv4"),
            ("xn--a", "punycode"),
            ("www.xn--a.com", "punycode"),
        ] {
            let err = Identifier::parse(bad).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
        for good in [
            "1.example",
            "123.example.com",
            "0x7f.example",
            "example.a1",
            "a.0xg",
        ] {
            assert_eq!(
                Identifier::parse(good).unwrap(),
                Identifier::Dns(good.into())
            );
        }
    }

    #[test]
    fn ipv6_identifiers_are_bracketed_in_urls() {
        let id = Identifier::parse("2001:db8::1").unwrap();
        assert_eq!(id.url_host(), "[2001:db8::1]");
        assert_eq!(Identifier::parse("[2001:db8::1]").unwrap(), id);
        assert_eq!(
            Identifier::parse("xn--bcher-kva.example")
                .unwrap()
                .url_host(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn malformed_validations_are_refused() {
        for bad in [
            "".to_string(),
            TOKEN.to_string(),
            format!("{TOKEN}.{THUMB}\n"),
            format!("{TOKEN}.{THUMB}x"),
            format!("other.{THUMB}"),
            format!("{TOKEN}.{}", &THUMB[..42]),
            format!("{TOKEN}.{}=", &THUMB[..42]),
            format!("{TOKEN}..{THUMB}"),
        ] {
            let err = parse_with(&[("CERTBOT_VALIDATION", Some(&bad))]).unwrap_err();
            assert!(
                matches!(err, ChallengeError::InvalidValidation { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn tokens_and_validations_are_limited_to_the_127_characters_the_site_stores() {
        // 83 + 1 + 43 = 127: the longest token that can still have a validation.
        let token = "t".repeat(83);
        let validation = format!("{token}.{THUMB}");
        assert_eq!(validation.len(), 127);
        validate_validation(&token, &validation).unwrap();
        let token = "t".repeat(84);
        let err = validate_validation(&token, &format!("{token}.{THUMB}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it is longer than 127 characters, the most the site stores"),
            "{err}"
        );
    }

    #[test]
    fn missing_domain_and_validation_name_the_variable() {
        let err = parse_with(&[("CERTBOT_DOMAIN", None)]).unwrap_err();
        assert_eq!(err, ChallengeError::Missing("CERTBOT_DOMAIN"));
        let err = parse_with(&[("CERTBOT_VALIDATION", None)]).unwrap_err();
        assert_eq!(err, ChallengeError::Missing("CERTBOT_VALIDATION"));
    }

    #[test]
    fn non_utf8_values_are_refused() {
        use std::os::unix::ffi::OsStringExt;
        let lookup = |k: &str| match k {
            "CERTBOT_DOMAIN" => Some(OsString::from_vec(vec![0x61, 0xff])),
            _ => None,
        };
        assert_eq!(
            Challenge::from_env(lookup).unwrap_err(),
            ChallengeError::NotUtf8("CERTBOT_DOMAIN")
        );
    }

    #[test]
    fn logging_only_values_never_fail_the_parse() {
        let c = parse_with(&[
            ("CERTBOT_REMAINING_CHALLENGES", Some("x")),
            ("CERTBOT_ALL_DOMAINS", Some("a.com\u{1b}[2J,b.com")),
        ])
        .unwrap();
        assert_eq!(c.remaining_challenges, None);
        // The escape character becomes a space, as everywhere text from outside is cleaned.
        assert_eq!(c.all_domains.as_deref(), Some("a.com [2J,b.com"));
    }
}
