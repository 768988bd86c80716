//! The site's refusal codes. django-acme-challenge answers every refusal of its API with a stable
//! code in the `Acme-Challenge-Refusal` header beside its English line (server/README.md has the
//! table), so the API client decides on the code, never on the words, which may change. Codes are
//! never renamed; one the hooks do not know is read by its HTTP status, as the README says.
//!
//! The original certbot-django server, and our app before the codes, send no header: then, and
//! only then, the API client reads the status and the words as it always did.

use std::fmt;

use reqwest::header::HeaderMap;

/// The response header that carries the code.
pub const HEADER: &str = "acme-challenge-refusal";

/// Longest unknown code kept (it is shown in a message).
const MAX_UNKNOWN: usize = 64;

/// Why the site refused a request, as its `Acme-Challenge-Refusal` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalCode {
    /// `method-not-allowed`: the URL takes another method.
    MethodNotAllowed,
    /// `body-too-large`: the body is over the site's limit.
    BodyTooLarge,
    /// `body-malformed`: the body is not the JSON object or form the endpoint takes.
    BodyMalformed,
    /// `field-invalid`: a field is missing, given twice, or malformed.
    FieldInvalid,
    /// `jwt-refused`: no valid JWT (unknown user or key, bad signature, stale time, replayed
    /// nonce): one code for all, so that nobody can list the site's users.
    JwtRefused,
    /// `binding-missing`: a JWT without `htm`, `htu`, `bsh` where only bound ones are taken.
    BindingMissing,
    /// `binding-malformed`: some of `htm`, `htu`, `bsh`, or one not a string.
    BindingMalformed,
    /// `binding-mismatch`: the JWT is bound to another method, host, path or body.
    BindingMismatch,
    /// `legacy-not-allowed`: an unbound JWT from a user not named in
    /// `ACME_CHALLENGE_LEGACY_CLIENTS`.
    LegacyNotAllowed,
    /// `permission-missing`: the user lacks the Django permission for this call.
    PermissionMissing,
    /// `domain-required`: a push without `domain` while `ACME_CHALLENGE_ALLOWED_DOMAINS` is set.
    DomainRequired,
    /// `name-not-allowed`: the name is not in `ACME_CHALLENGE_ALLOWED_DOMAINS`.
    NameNotAllowed,
    /// `scope-outside-key`: the name is outside the scope of the key that signed.
    ScopeOutsideKey,
    /// `not-owner`: another user's challenge holds the token.
    NotOwner,
    /// `no-such-challenge`: nothing of the caller's under the token.
    NoSuchChallenge,
    /// `report-legacy-form`: a certificate report in the old form of facts.
    ReportLegacyForm,
    /// `chain-private-key`: the reported chain holds a private key.
    ChainPrivateKey,
    /// `chain-invalid`: the reported chain is not PEM certificates, leaf first.
    ChainInvalid,
    /// `certificate-unrecordable`: the site does not record such a certificate.
    CertificateUnrecordable,
    /// `certificate-not-yet-valid`: the leaf is not valid yet by the site's clock.
    CertificateNotYetValid,
    /// `chain-untrusted`: the chain does not verify to a root the site trusts.
    ChainUntrusted,
    /// `trust-store-unreadable`: the site cannot read its trust roots.
    TrustStoreUnreadable,
    /// `batch-too-large`: a batch of more items than the site takes.
    BatchTooLarge,
    /// A code these hooks do not know (from a newer app), cleaned for a message.
    Unknown(String),
}

/// Every known code with its text, as the app spells it.
const CODES: [(&str, RefusalCode); 23] = [
    ("method-not-allowed", RefusalCode::MethodNotAllowed),
    ("body-too-large", RefusalCode::BodyTooLarge),
    ("body-malformed", RefusalCode::BodyMalformed),
    ("field-invalid", RefusalCode::FieldInvalid),
    ("jwt-refused", RefusalCode::JwtRefused),
    ("binding-missing", RefusalCode::BindingMissing),
    ("binding-malformed", RefusalCode::BindingMalformed),
    ("binding-mismatch", RefusalCode::BindingMismatch),
    ("legacy-not-allowed", RefusalCode::LegacyNotAllowed),
    ("permission-missing", RefusalCode::PermissionMissing),
    ("domain-required", RefusalCode::DomainRequired),
    ("name-not-allowed", RefusalCode::NameNotAllowed),
    ("scope-outside-key", RefusalCode::ScopeOutsideKey),
    ("not-owner", RefusalCode::NotOwner),
    ("no-such-challenge", RefusalCode::NoSuchChallenge),
    ("report-legacy-form", RefusalCode::ReportLegacyForm),
    ("chain-private-key", RefusalCode::ChainPrivateKey),
    ("chain-invalid", RefusalCode::ChainInvalid),
    (
        "certificate-unrecordable",
        RefusalCode::CertificateUnrecordable,
    ),
    (
        "certificate-not-yet-valid",
        RefusalCode::CertificateNotYetValid,
    ),
    ("chain-untrusted", RefusalCode::ChainUntrusted),
    ("trust-store-unreadable", RefusalCode::TrustStoreUnreadable),
    ("batch-too-large", RefusalCode::BatchTooLarge),
];

impl RefusalCode {
    /// The code a header value names: exactly a known code (surrounding whitespace aside), or
    /// [`RefusalCode::Unknown`] with the value made safe to show.
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        CODES.iter().find(|(text, _)| *text == value).map_or_else(
            || RefusalCode::Unknown(crate::text::one_line(value, MAX_UNKNOWN)),
            |(_, code)| code.clone(),
        )
    }

    /// The code of an answer, `None` when it has no `Acme-Challenge-Refusal` header (the
    /// original certbot-django server, an older app, or something in front of the site).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(HEADER)?;
        Some(Self::parse(&String::from_utf8_lossy(value.as_bytes())))
    }

    /// The code as the app spells it.
    pub fn as_str(&self) -> &str {
        match self {
            RefusalCode::Unknown(text) => text,
            known => CODES
                .iter()
                .find(|(_, code)| code == known)
                .map_or("", |(text, _)| text),
        }
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn every_code_the_app_can_send_is_known_and_spelt_back_the_same() {
        // The app's enum of codes, read from its source: a code added there and not here fails.
        let source = include_str!("../../../server/src/acme_challenge/refusal.py");
        let body = &source[source.find("class Code(").expect("the app's Code enum")..];
        let body = &body[..body.find("\n\n\n").unwrap_or(body.len())];
        let app: Vec<&str> = body
            .lines()
            .filter_map(|line| line.split_once(" = \""))
            .map(|(_, value)| value.trim_end_matches('"'))
            .collect();
        assert!(app.len() >= 23, "{app:?}");
        for text in &app {
            let code = RefusalCode::parse(text);
            assert!(
                !matches!(code, RefusalCode::Unknown(_)),
                "{text} is unknown to the hooks"
            );
            assert_eq!(code.as_str(), *text);
        }
        assert_eq!(
            app.len(),
            CODES.len(),
            "the hooks know a code the app lacks"
        );
    }

    #[test]
    fn a_header_gives_its_code_and_no_header_gives_none() {
        let mut headers = HeaderMap::new();
        assert_eq!(RefusalCode::from_headers(&headers), None);
        headers.insert(
            "Acme-Challenge-Refusal",
            HeaderValue::from_static(" scope-outside-key "),
        );
        assert_eq!(
            RefusalCode::from_headers(&headers),
            Some(RefusalCode::ScopeOutsideKey)
        );
    }

    #[test]
    fn an_unknown_code_is_kept_as_one_safe_short_line() {
        let code = RefusalCode::parse("new-reason\u{1b}[31m eyJhbGciOiJIUzI1NiJ9");
        assert_eq!(
            code,
            RefusalCode::Unknown("new-reason [31m [JWT removed]".into())
        );
        assert_eq!(RefusalCode::parse("JWT-REFUSED").as_str(), "JWT-REFUSED");
        let long = RefusalCode::parse(&"x".repeat(500));
        assert!(long.as_str().len() < 80, "{long}");
    }
}
