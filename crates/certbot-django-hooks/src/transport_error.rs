//! Why a request got no HTTP answer, classified from reqwest's error chain: a name that does
//! not resolve, a TLS problem (named, with its fix), a timeout, or a connection failure; only
//! the last two are worth retrying.

use std::error::Error as StdError;
use std::fmt;

use crate::error::causes;
use crate::resolve::DnsError;

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host name did not resolve. Not retried: the name is wrong or DNS is down.
    Dns(String),
    /// TLS failed; the text names the certificate problem. Not retried.
    Tls(String),
    /// No answer in time. Retried.
    Timeout,
    /// Connection refused, reset, or closed early. Retried.
    Connection(String),
}

impl Failure {
    /// Whether another attempt can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Failure::Timeout | Failure::Connection(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Dns(text) => write!(
                f,
                "{text}: check the host name in the URL, or pass --resolve HOST:ADDR"
            ),
            Failure::Tls(text) => f.write_str(text),
            Failure::Timeout => f.write_str("no answer before the timeout"),
            Failure::Connection(text) => f.write_str(text),
        }
    }
}

/// Classifies a reqwest error by walking its source chain.
pub fn classify(err: &reqwest::Error) -> Failure {
    for e in causes(err) {
        if let Some(dns) = e.downcast_ref::<DnsError>() {
            return Failure::Dns(dns.to_string());
        }
        if let Some(tls) = find_rustls_error(e) {
            return Failure::Tls(describe_tls(tls));
        }
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return Failure::Timeout;
        }
    }
    if err.is_timeout() {
        return Failure::Timeout;
    }
    // The deepest message, which is usually the one that names the cause.
    let text = causes(err)
        .last()
        .map_or_else(|| err.to_string(), ToString::to_string);
    if err.is_connect() {
        Failure::Connection(format!("cannot connect: {text}"))
    } else {
        Failure::Connection(format!("the connection failed: {text}"))
    }
}

/// The rustls error in `err`, looking through nested `io::Error`s: hyper-util wraps
/// tokio-rustls's `io::Error(InvalidData, rustls::Error)` in another `io::Error`, and
/// `io::Error::source()` skips the wrapped error itself.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner: &(dyn StdError + 'static) = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_rustls_error(inner)
}

fn describe_tls(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const FIX: &str =
        "if the site uses a private or self-signed CA, pass its certificate with --ca-bundle PEM";
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => format!(
                "TLS: the site's certificate is signed by an unknown authority (self-signed, a \
                 private CA, or a missing intermediate certificate): {FIX}"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                "TLS: the site's certificate has expired: replace it (or use an http:// --server \
                 on a trusted network for the first renewal)"
                    .to_string()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "TLS: the site's certificate is not valid yet: check this machine's clock"
                    .to_string()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "TLS: the site's certificate is not valid for this host name: check --server"
                    .to_string()
            }
            C::Revoked => "TLS: the site's certificate has been revoked".to_string(),
            other => format!("TLS: the site's certificate was rejected ({other:?}): {FIX}"),
        },
        other => format!(
            "TLS handshake failed ({other}): is the site serving HTTPS on this port? For a plain \
             HTTP site use an http:// URL"
        ),
    }
}
