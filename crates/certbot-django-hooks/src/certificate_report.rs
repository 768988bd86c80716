//! The deploy hook: after certbot issued or renewed a certificate, send it to the site, so the
//! site knows every certificate it validated and can say when one is late.
//!
//! certbot runs `--deploy-hook` once per successful issuance or renewal, with `RENEWED_LINEAGE`
//! (the live directory, e.g. `/etc/letsencrypt/live/example.com`) and `RENEWED_DOMAINS` (its
//! names, space-separated) set. The hook reads `RENEWED_LINEAGE/fullchain.pem` (the leaf, then
//! the intermediates; never `privkey.pem`) as the hooks read their own files (a regular file,
//! opened without blocking, size-capped: [`crate::files`]) and POSTs the certificates themselves
//! to `{server}/.well-known/certificates/` as JSON, `{"chain": PEM, "lineage": NAME}`, signed
//! like every API call (a request-bound JWT over the exact body bytes,
//! [`crate::jwt::RequestBinding`]). `{domain}` in `--server` is the first name of
//! `RENEWED_DOMAINS`. Settings, deadline, retries and messages are the other hooks'; so is the
//! config file.
//!
//! A report is the certificate, not a list of claims about it: the site parses the chain,
//! verifies it to its trust anchors and derives serial, names, dates, issuer and fingerprint
//! itself (issue 19: reported facts could be forged). The hook still reads the leaf's facts
//! here, to refuse a certificate the site cannot record before sending anything and to say what
//! it reported. Only public data leaves the machine: the `CERTIFICATE` blocks are decoded and
//! encoded again, so nothing else in the file (a key pasted into it by mistake, say) is sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use x509_parser::extensions::GeneralName;

use crate::challenge::Identifier;
use crate::config::{Options, Settings};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::files::{self, FileProblem};
use crate::output::Reporter;
use crate::session::Session;
use crate::text::plain_value;

/// Largest `fullchain.pem` read. A leaf certificate with 100 names is under 8 KiB, an
/// intermediate under 2 KiB.
pub const MAX_CERT_FILE: u64 = 256 * 1024;
/// Largest report body the site takes (its contract): JSON with the chain's PEM text.
pub const MAX_REPORT_BODY: usize = 64 * 1024;
/// Most names a report carries: Let's Encrypt allows 100 per certificate.
pub const MAX_NAMES: usize = 100;
/// Longest issuer text sent.
const MAX_ISSUER: usize = 500;

/// The public facts of one certificate, as the site records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The serial number: lower-case hex of its bytes, without leading zero bytes.
    pub serial: String,
    /// The subjectAltName's DNS names and IP addresses, in the certificate's order.
    pub names: Vec<Identifier>,
    /// notBefore, as seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, as seconds since the Unix epoch.
    pub not_after: i64,
    /// The issuer's distinguished name (RFC 4514 style), control characters removed.
    pub issuer: String,
    /// Lower-case hex SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256`
    /// prints it without the colons.
    pub fingerprint: String,
}

impl CertificateFacts {
    /// Reads one DER-encoded X.509 certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("its certificate is not valid X.509 ({e})"))?;
        if !rest.is_empty() {
            return Err("its certificate has trailing bytes after the DER".into());
        }
        let raw = cert.raw_serial();
        // openssl prints the integer: no leading zero bytes (DER adds one to keep it positive).
        let serial = match raw.iter().position(|&b| b != 0) {
            Some(first) => hex(&raw[first..]),
            None => "00".to_string(),
        };
        let san = cert
            .subject_alternative_name()
            .map_err(|e| format!("its subjectAltName extension is malformed ({e})"))?
            .ok_or(
                "the certificate has no subjectAltName extension, so it names no identifier \
                 (every ACME certificate has one)",
            )?;
        let mut names = Vec::new();
        for general in &san.value.general_names {
            let name = match general {
                GeneralName::DNSName(text) => Identifier::parse(text).map_err(|e| {
                    format!(
                        "it names {}, which the site cannot record: {}",
                        plain_value(text, 80),
                        identifier_reason(&e.to_string())
                    )
                })?,
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => Identifier::Ip(<[u8; 4]>::try_from(*bytes).expect("4 bytes").into()),
                    16 => Identifier::Ip(<[u8; 16]>::try_from(*bytes).expect("16 bytes").into()),
                    n => {
                        return Err(format!(
                            "its subjectAltName has an IP address of {n} bytes, neither IPv4 nor \
                             IPv6"
                        ));
                    }
                },
                _ => continue,
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.is_empty() {
            return Err("its subjectAltName has no DNS name or IP address".into());
        }
        if names.len() > MAX_NAMES {
            return Err(format!(
                "it has {} names; the site takes at most {MAX_NAMES} (as Let's Encrypt issues)",
                names.len()
            ));
        }
        let validity = cert.validity();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        Ok(CertificateFacts {
            serial,
            names,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            issuer: plain_value(&cert.issuer().to_string(), MAX_ISSUER),
            fingerprint: hex(digest.as_ref()),
        })
    }
}

/// A certificate chain as `fullchain.pem` holds it: the leaf, then the intermediates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The leaf's facts, read here for the messages and to refuse what the site cannot record.
    pub leaf: CertificateFacts,
    /// How many certificates the chain holds, the leaf included.
    pub certificates: usize,
    /// The `CERTIFICATE` blocks, decoded and encoded again (LF line endings): exactly what is
    /// sent, and nothing else the file may hold.
    pub pem: String,
}

impl Chain {
    /// Reads every `CERTIFICATE` block of a PEM text, the first being the leaf. Pure, for tests;
    /// the error says what is wrong with the text.
    pub fn from_pem(text: &[u8]) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("it is not PEM ({e})"))?;
        let certificates: Vec<pem::Pem> = blocks
            .into_iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| pem::Pem::new("CERTIFICATE", b.into_contents()))
            .collect();
        let first = certificates
            .first()
            .ok_or("it holds no '-----BEGIN CERTIFICATE-----' block")?;
        let leaf = CertificateFacts::from_der(first.contents())?;
        let pem = pem::encode_many_config(
            &certificates,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        Ok(Chain {
            leaf,
            certificates: certificates.len(),
            pem,
        })
    }

    /// The report's body: `{"chain": PEM, "lineage": NAME or ""}` as JSON bytes, refused when
    /// larger than the site takes ([`MAX_REPORT_BODY`]).
    pub fn report_body(&self, lineage: Option<&str>) -> Result<Vec<u8>, String> {
        #[derive(Serialize)]
        struct Report<'a> {
            chain: &'a str,
            lineage: &'a str,
        }
        let body = serde_json::to_vec(&Report {
            chain: &self.pem,
            lineage: lineage.unwrap_or_default(),
        })
        .map_err(|e| format!("cannot encode the report as JSON: {e}"))?;
        if body.len() > MAX_REPORT_BODY {
            return Err(format!(
                "its {} certificates make a report of {} bytes; the site takes at most {} KiB \
                 (a leaf and its intermediates are a few KiB): fullchain.pem should hold only the \
                 certificate and its chain",
                self.certificates,
                body.len(),
                MAX_REPORT_BODY / 1024
            ));
        }
        Ok(body)
    }
}

/// The part of an identifier error after "is invalid: ", which is the reason.
fn identifier_reason(message: &str) -> &str {
    message
        .split_once("is invalid: ")
        .map_or(message, |(_, reason)| reason)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian, UTC), by
/// Howard Hinnant's days-to-civil algorithm.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Reads and parses `LINEAGE/fullchain.pem`.
pub fn read_chain(lineage: &Path) -> Result<Chain, Error> {
    let path = lineage.join("fullchain.pem");
    let fail =
        |problem: String| Error::Deploy(format!("certificate {}: {problem}", path.display()));
    let (_, bytes) = files::read_regular(&path, MAX_CERT_FILE).map_err(|p| {
        fail(match p {
            FileProblem::NotFound => "it does not exist: RENEWED_LINEAGE (or --lineage) must be \
                                      the certificate's live directory, e.g. \
                                      /etc/letsencrypt/live/example.com"
                .to_string(),
            FileProblem::PermissionDenied => {
                "permission denied: run the hook as the user certbot runs as (root)".to_string()
            }
            other => other.describe("a PEM certificate"),
        })
    })?;
    Chain::from_pem(&bytes).map_err(fail)
}

/// What `deploy-hook` reports: the certificate's live directory and names (certbot's
/// `RENEWED_LINEAGE` and `RENEWED_DOMAINS`, which the binary's command line falls back to), and
/// the hook's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployOptions {
    /// The live directory; `None` when neither `--lineage` nor `RENEWED_LINEAGE` gave one.
    pub lineage: Option<PathBuf>,
    /// The certificate's names, space-separated; the first is `{domain}` in `--server`.
    pub domains: Option<String>,
    /// The hook's options.
    pub hook: Options,
}

/// Runs `deploy-hook`. The result line goes to `stdout`.
pub fn run_deploy(
    args: &DeployOptions,
    stdout: &mut dyn Write,
    stderr: Box<dyn Write>,
) -> Result<(), Error> {
    let settings = Settings::load(&args.hook)?;
    let reporter = Reporter::new("deploy-hook", settings.verbosity, stderr);
    let line = deploy(
        &settings,
        args.lineage.as_deref(),
        args.domains.as_deref(),
        &reporter,
    )?;
    writeln!(stdout, "{line}").map_err(Error::Output)
}

/// The deploy hook proper: read the certificate, report it. Returns the result line.
pub fn deploy(
    settings: &Settings,
    lineage: Option<&Path>,
    domains: Option<&str>,
    reporter: &Reporter,
) -> Result<String, Error> {
    let deadline = Deadline::new(settings.timeout);
    let lineage = lineage.ok_or_else(|| {
        Error::Deploy(
            "RENEWED_LINEAGE is not set, nothing was sent: run this hook from certbot \
             (certbot renew --deploy-hook 'deploy-hook --config FILE'), or pass --lineage \
             /etc/letsencrypt/live/NAME"
                .into(),
        )
    })?;
    let chain = read_chain(lineage)?;
    let facts = &chain.leaf;
    let names: Vec<String> = facts.names.iter().map(ToString::to_string).collect();
    reporter.step(format_args!(
        "certificate {} for {} (not after {}, SHA-256 {}), {} certificate(s) in the chain",
        facts.serial,
        names.join(" "),
        rfc3339(facts.not_after),
        facts.fingerprint,
        chain.certificates
    ));
    let identifier = match domains.and_then(|d| d.split_whitespace().next()) {
        Some(first) => Identifier::parse(first).map_err(|e| {
            Error::Deploy(format!(
                "RENEWED_DOMAINS (or --domains): its first name {} is invalid: {}; nothing was \
                 sent",
                plain_value(first, 64),
                identifier_reason(&e.to_string())
            ))
        })?,
        None => facts.names[0].clone(),
    };
    let lineage_name = lineage
        .file_name()
        .map(|n| plain_value(&n.to_string_lossy(), 255));
    let body = chain
        .report_body(lineage_name.as_deref())
        .map_err(|problem| {
            Error::Deploy(format!(
                "certificate {}: {problem}; nothing was sent",
                lineage.join("fullchain.pem").display()
            ))
        })?;
    let session = Session::open(settings, &identifier, deadline, reporter)?;
    let api = session.api()?;
    let status = api.report_certificate(&body)?;
    reporter.step(format_args!(
        "done: certificate reported ({status}); {:.3} s in all",
        deadline.elapsed().as_secs_f64()
    ));
    Ok(format!(
        "certificate {} for {} (not after {}) reported to {}",
        facts.serial,
        names.join(", "),
        rfc3339(facts.not_after),
        api.base_url()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("../tests/data/cert.pem");

    fn leaf_of(text: &[u8]) -> Result<CertificateFacts, String> {
        Chain::from_pem(text).map(|chain| chain.leaf)
    }

    #[test]
    fn the_facts_are_those_openssl_reads() {
        // openssl x509 -in tests/data/cert.pem -noout -serial -dates -issuer -fingerprint -sha256
        let facts = leaf_of(CERT).unwrap();
        assert_eq!(facts.serial, "fa0123456789abcdef");
        let names: Vec<String> = facts.names.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "a.example.test",
                "www.a.example.test",
                "127.0.0.1",
                "2001:db8::1"
            ]
        );
        assert_eq!(rfc3339(facts.not_before), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(facts.not_after), "2026-04-01T00:00:00Z");
        assert!(
            facts.issuer.contains("Example Test Issuer R1"),
            "{}",
            facts.issuer
        );
        assert_eq!(
            facts.fingerprint,
            "e695038cb9586626131df0e1d2832177db0a54a2681af3916eb68ff6a034cbea"
        );
    }

    #[test]
    fn a_wildcard_name_or_no_subject_alt_name_is_refused_with_the_reason() {
        let wildcard = leaf_of(include_bytes!("../tests/data/wildcard.pem"));
        let message = wildcard.unwrap_err();
        assert!(
            message.starts_with("it names *.example.test, which the site cannot record: wildcard"),
            "{message}"
        );
        let no_san = leaf_of(include_bytes!("../tests/data/no-san.pem"));
        assert!(no_san.unwrap_err().contains("no subjectAltName"));
    }

    #[test]
    fn timestamps_are_written_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn text_without_a_certificate_block_is_refused_with_what_it_lacks() {
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            leaf_of(key).unwrap_err(),
            "it holds no '-----BEGIN CERTIFICATE-----' block"
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            leaf_of(garbage)
                .unwrap_err()
                .starts_with("its certificate is not valid X.509"),
        );
    }

    #[test]
    fn the_report_is_the_chains_certificate_blocks_as_json_and_nothing_else() {
        let issuer = include_bytes!("../tests/data/issuer.pem");
        // A file with a key pasted into it: only the CERTIFICATE blocks are sent.
        let key = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
        let text = [CERT, key.as_slice(), issuer.as_slice()].concat();
        let chain = Chain::from_pem(&text).unwrap();
        assert_eq!(chain.certificates, 2);
        assert_eq!(chain.leaf.serial, "fa0123456789abcdef");
        let body = chain.report_body(Some("a.example.test")).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
        assert_eq!(json["lineage"], "a.example.test");
        let sent = json["chain"].as_str().unwrap();
        assert!(
            !sent.contains("PRIVATE") && !sent.contains("c2VjcmV0"),
            "{sent}"
        );
        let blocks = pem::parse_many(sent).unwrap();
        let expected = pem::parse_many(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0].contents(),
            expected[0].contents(),
            "the leaf first"
        );
        assert_eq!(
            blocks[1].contents(),
            expected[2].contents(),
            "then the issuer"
        );
        assert!(!sent.contains('\r'));
        let unnamed = chain.report_body(None).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&unnamed).unwrap();
        assert_eq!(json["lineage"], "");
    }

    #[test]
    fn a_chain_too_large_for_the_site_is_refused_before_sending() {
        let issuer = include_bytes!("../tests/data/issuer.pem");
        let mut text = CERT.to_vec();
        for _ in 0..100 {
            text.extend_from_slice(issuer);
        }
        let chain = Chain::from_pem(&text).unwrap();
        let err = chain.report_body(None).unwrap_err();
        assert!(
            err.starts_with("its 101 certificates make a report of ")
                && err.contains("the site takes at most 64 KiB"),
            "{err}"
        );
    }
}
