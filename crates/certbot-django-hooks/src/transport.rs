//! HTTP plumbing shared by the API client and the self-check: the run deadline, curl-style
//! `--resolve` overrides, client construction, and turning transport failures and response
//! bodies into short, safe text.
//!
//! Facts behind the choices here:
//! - certbot has no hook timeout, so every wait is bounded by one [`Deadline`] for the whole run.
//! - Name lookups run on a detached thread per lookup rather than on Tokio's blocking pool: a
//!   stuck `getaddrinfo` then cannot hold up the end of the process (dropping a runtime waits
//!   for its blocking tasks), and the request timeout covers the lookup.
//! - reqwest with rustls loads the system root store when a client is built (rustls-platform-
//!   verifier reads every file under /etc/ssl/certs). A client for a plain `http://` URL never
//!   needs it, so it gets an empty root store; `cargo run --release --example client_build_cost`
//!   prints what that saves.

use std::error::Error as StdError;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;

use crate::error::Error;

/// Sent on every request, so site operators can tell the hooks' traffic apart.
pub const USER_AGENT: &str = concat!("certbot-django-hooks/", env!("CARGO_PKG_VERSION"));

/// The wall-clock budget for one hook run (`--timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    total: Duration,
    /// When this phase must end, from `start`: `total`, or less for a phase that must leave
    /// time for a later one ([`Deadline::reserving`]).
    end: Duration,
}

impl Deadline {
    /// Starts a deadline `total` from now.
    pub fn new(total: Duration) -> Self {
        Deadline {
            start: Instant::now(),
            total,
            end: total,
        }
    }

    /// The same run's deadline, ending `reserve` earlier, so that a later step (the check's
    /// delete of its probe) still has `reserve` left. Messages keep naming the whole --timeout.
    pub fn reserving(&self, reserve: Duration) -> Self {
        Deadline {
            end: self.end.saturating_sub(reserve),
            ..*self
        }
    }

    /// Time left, zero once expired.
    pub fn remaining(&self) -> Duration {
        self.end.saturating_sub(self.start.elapsed())
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The whole budget (`--timeout`).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// `limit`, or less if less time remains.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }
}

/// Which hosts a `--resolve` rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveHost {
    /// `*`: every host without a rule of its own.
    Any,
    /// One host name, lowercased.
    Name(String),
}

/// One `--resolve HOST:ADDR[,ADDR...]` rule (also accepted: curl's `HOST:PORT:ADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    /// The host the rule applies to.
    pub host: ResolveHost,
    /// The addresses to connect to instead of what DNS says. The port always comes from the URL.
    pub addrs: Vec<IpAddr>,
}

impl ResolveRule {
    /// Parses `HOST:ADDR[,ADDR...]` or curl's `HOST:PORT:ADDR[,ADDR...]`. IPv6 addresses may be
    /// bracketed. In the curl form the port is checked and then ignored: the rule covers every
    /// port of HOST, because the override sits below the URL's port.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{} is not HOST:ADDR (for example 'example.com:203.0.113.7' or '*:127.0.0.1'): {why}",
                crate::challenge::echo(value)
            )
        };
        let (host, rest) = value
            .split_once(':')
            .ok_or_else(|| bad("there is no ':'"))?;
        let host = if host == "*" {
            ResolveHost::Any
        } else {
            match crate::challenge::Identifier::parse(host) {
                Ok(crate::challenge::Identifier::Dns(name)) => ResolveHost::Name(name),
                _ => return Err(bad("HOST must be a host name or '*'")),
            }
        };
        let parse_addrs = |list: &str| -> Option<Vec<IpAddr>> {
            list.split(',')
                .map(|a| {
                    let a = a
                        .strip_prefix('[')
                        .and_then(|a| a.strip_suffix(']'))
                        .unwrap_or(a);
                    a.parse::<IpAddr>().ok()
                })
                .collect()
        };
        let addrs = match parse_addrs(rest) {
            Some(addrs) => addrs,
            None => {
                let (port, list) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("ADDR is not an IP address"))?;
                port.parse::<u16>()
                    .map_err(|_| bad("ADDR is not an IP address"))?;
                parse_addrs(list).ok_or_else(|| bad("ADDR is not an IP address"))?
            }
        };
        Ok(ResolveRule { host, addrs })
    }

    /// The addresses configured for `host`, if any rule applies: every rule naming the host
    /// (so `--resolve h:127.0.0.1 --resolve h:127.0.0.2` gives h both addresses, as does
    /// `--resolve h:127.0.0.1,127.0.0.2`), else every `*` rule, in the order given.
    pub fn lookup(rules: &[ResolveRule], host: &str) -> Option<Vec<IpAddr>> {
        let host = host.to_ascii_lowercase();
        let collect = |wanted: &ResolveHost| -> Option<Vec<IpAddr>> {
            let mut addrs: Vec<IpAddr> = Vec::new();
            let mut any = false;
            for rule in rules.iter().filter(|r| &r.host == wanted) {
                any = true;
                addrs.extend(&rule.addrs);
            }
            any.then_some(addrs)
        };
        collect(&ResolveHost::Name(host)).or_else(|| collect(&ResolveHost::Any))
    }
}

/// A name lookup that failed: the host and the resolver's words.
#[derive(Debug)]
pub struct DnsError {
    host: String,
    message: String,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve host '{}': {}", self.host, self.message)
    }
}

impl StdError for DnsError {}

struct OverrideResolver {
    rules: Vec<ResolveRule>,
}

impl Resolve for OverrideResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        if let Some(addrs) = ResolveRule::lookup(&self.rules, &host) {
            let addrs: Vec<SocketAddr> = addrs.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            return Box::pin(std::future::ready(Ok(Box::new(addrs.into_iter()) as Addrs)));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lookup_host = host.clone();
        let spawned = std::thread::Builder::new()
            .name("dns".into())
            .spawn(move || {
                let result = (lookup_host.as_str(), 0)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect::<Vec<_>>());
                let _ = tx.send(result);
            });
        Box::pin(async move {
            let dns_error = |message: String| -> Box<dyn StdError + Send + Sync> {
                Box::new(DnsError {
                    host: host.clone(),
                    message,
                })
            };
            if let Err(e) = spawned {
                return Err(dns_error(format!("cannot start a lookup thread: {e}")));
            }
            match rx.await {
                Ok(Ok(addrs)) if !addrs.is_empty() => Ok(Box::new(addrs.into_iter()) as Addrs),
                Ok(Ok(_)) => Err(dns_error("no addresses".into())),
                Ok(Err(e)) => Err(dns_error(e.to_string())),
                Err(_) => Err(dns_error(
                    "the lookup thread ended without an answer".into(),
                )),
            }
        })
    }
}

/// The addresses `host` stands for, as the clients would connect: an IP literal (IPv6 with or
/// without brackets), else a `--resolve` rule, else the system resolver, waited for at most
/// `timeout` (on a detached thread, for the reason the module comment gives). `None` when the
/// name does not resolve in time.
pub fn addresses_of(host: &str, resolve: &[ResolveRule], timeout: Duration) -> Option<Vec<IpAddr>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    if let Some(addrs) = ResolveRule::lookup(resolve, host) {
        return Some(addrs.to_vec());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            let result = (name.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>());
            let _ = tx.send(result);
        })
        .ok()?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Some(addrs),
        _ => None,
    }
}

/// How a client treats TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify against the system roots plus `--ca-bundle`: API requests over https.
    Verified,
    /// The URL is plain http: no root store is loaded at all.
    PlainHttp,
    /// Accept any certificate: the self-check, which, like Let's Encrypt, does not validate the
    /// certificate of an https URL it was redirected to, and never sends credentials.
    AcceptAny,
}

/// Builds a blocking client that never follows redirects, with `--resolve` overrides and a
/// connect timeout. Request timeouts are set per request from the deadline.
pub fn build_client(
    tls: TlsMode,
    resolve: &[ResolveRule],
    ca_bundle: Option<&Path>,
    connect_timeout: Duration,
) -> Result<reqwest::blocking::Client, Error> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(connect_timeout)
        .timeout(None)
        .pool_max_idle_per_host(1)
        .dns_resolver(Arc::new(OverrideResolver {
            rules: resolve.to_vec(),
        }));
    builder = match tls {
        TlsMode::Verified => match ca_bundle {
            Some(path) => builder.tls_certs_merge(read_ca_bundle(path)?),
            None => builder,
        },
        TlsMode::PlainHttp => builder.tls_certs_only(std::iter::empty()),
        TlsMode::AcceptAny => builder.tls_danger_accept_invalid_certs(true),
    };
    builder.build().map_err(|e| Error::Client(chain_text(&e)))
}

fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let origin = format!("--ca-bundle {}", path.display());
    let (_, bytes) = crate::files::read_regular(path, crate::files::MAX_CA_BUNDLE)
        .map_err(|p| Error::config(&origin, p.describe("a PEM certificate bundle")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        Error::config(
            &origin,
            format!("it is not a PEM certificate bundle: {}", chain_text(&e)),
        )
    })?;
    if certs.is_empty() {
        return Err(Error::config(
            &origin,
            "it holds no '-----BEGIN CERTIFICATE-----' block: pass the PEM file of the CA that signed the site's certificate",
        ));
    }
    Ok(certs)
}

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
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
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
        current = e.source();
    }
    if err.is_timeout() {
        return Failure::Timeout;
    }
    let text = innermost_text(err);
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

/// The deepest message in an error chain, which is usually the one that names the cause.
fn innermost_text(err: &(dyn StdError + 'static)) -> String {
    let mut last = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        last = e.to_string();
        current = e.source();
    }
    last
}

/// The whole chain as one line.
pub(crate) fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        text.push_str(": ");
        text.push_str(&e.to_string());
        current = e.source();
    }
    text
}

/// Reads at most `cap` bytes of a body; a read error just ends the excerpt.
pub fn read_capped(response: &mut reqwest::blocking::Response, cap: u64) -> Vec<u8> {
    let mut body = Vec::new();
    let _ = response.by_ref().take(cap).read_to_end(&mut body);
    body
}

/// A body as a quoted line of plain text for a message: control characters replaced,
/// whitespace collapsed, JWTs removed, at most `max` characters. An HTML page is reduced to its
/// `<title>`. Empty for an empty body.
pub fn body_excerpt(body: &[u8], headers: &HeaderMap, max: usize) -> String {
    body_excerpt_hiding(body, headers, max, &[])
}

/// [`body_excerpt`] that also removes each of `secrets` (the request's own JWT): see
/// [`one_line_hiding`].
pub fn body_excerpt_hiding(
    body: &[u8],
    headers: &HeaderMap,
    max: usize,
    secrets: &[&str],
) -> String {
    let text = String::from_utf8_lossy(body);
    let is_html = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    if is_html {
        let lower = text.to_ascii_lowercase();
        return match (lower.find("<title>"), lower.find("</title>")) {
            (Some(start), Some(end)) if end > start + 7 => {
                format!(
                    "(an HTML page titled \"{}\")",
                    one_line_hiding(&text[start + 7..end], max, secrets)
                )
            }
            _ => "(an HTML page)".to_string(),
        };
    }
    let line = one_line_hiding(&text, max, secrets);
    if line.is_empty() {
        line
    } else {
        format!("\"{line}\"")
    }
}

/// Replaces control characters with spaces, collapses runs of whitespace, removes anything
/// shaped like a JWT (see [`redact_jwts`]) and truncates.
pub fn one_line(text: &str, max: usize) -> String {
    one_line_hiding(text, max, &[])
}

/// The one way text from a response (a body, a `Location`, a header) becomes message text:
/// [`one_line`], also removing each of `secrets` and each of their dot-separated parts of 16
/// characters or more. The API client passes the request's own JWT, so a server that echoes the
/// `Authorization` header, whole or in part, cannot put it on stderr and into certbot's log.
pub fn one_line_hiding(text: &str, max: usize, secrets: &[&str]) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = redact_jwts(&words.join(" "), secrets);
    if joined.chars().count() > max {
        let mut cut: String = joined.chars().take(max).collect();
        cut.push_str("...");
        cut
    } else {
        joined
    }
}

/// What replaces a JWT in text that is shown.
pub const JWT_REMOVED: &str = "[JWT removed]";

/// Shortest run starting with `eyJ` that counts as a JWT. The shortest JWT header,
/// `{"alg":"none"}`, is 19 characters of base64url, so this is generous.
const MIN_JWT_LIKE: usize = 12;

/// Removes every secret (and each dot-separated part of one that has 16 characters or more),
/// then anything shaped like a JWT, generously: a run of base64 or base64url characters, dots,
/// `=` and `%` that starts with `eyJ` (the base64url of `{"`, which begins every JWT header and
/// payload) and is at least 12 characters long, whatever its number of dots. Both are replaced
/// by [`JWT_REMOVED`].
pub fn redact_jwts(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        let parts = std::iter::once(*secret).chain(secret.split('.').filter(|p| p.len() >= 16));
        for part in parts {
            if !part.is_empty() && text.contains(part) {
                text = text.replace(part, JWT_REMOVED);
            }
        }
    }
    if !text.contains("eyJ") {
        return text;
    }
    let bytes = text.as_bytes();
    let in_token = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=' | b'.' | b'%')
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find("eyJ") {
        let start = i + found;
        let mut end = start;
        while end < bytes.len() && in_token(bytes[end]) {
            end += 1;
        }
        if end - start >= MIN_JWT_LIKE {
            out.push_str(&text[copied..start]);
            out.push_str(JWT_REMOVED);
            copied = end;
        }
        i = end.max(start + 3);
    }
    out.push_str(&text[copied..]);
    out
}

/// Parses an HTTP date in the IMF-fixdate form every current server sends
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + (*h * 3600 + *m * 60 + *s) as i64;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How far this machine's clock is ahead of the site's (negative: behind), from the response's
/// `Date` header. One-second resolution.
pub fn clock_skew(headers: &HeaderMap, local_now: SystemTime) -> Option<i64> {
    let server = parse_http_date(headers.get(reqwest::header::DATE)?.to_str().ok()?)?;
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .ok()
    };
    Some(secs(local_now)? - secs(server)?)
}

/// The wait a 429 or 503 asks for in `Retry-After` (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap, local_now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(local_now).unwrap_or(Duration::ZERO))
}

/// Whether requests to `url` stay on this machine: a loopback literal, `localhost`, or a host
/// that a `--resolve` rule sends only to loopback addresses.
pub fn is_loopback(url: &reqwest::Url, resolve: &[ResolveRule]) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            name == "localhost"
                || name.ends_with(".localhost")
                || ResolveRule::lookup(resolve, &name)
                    .is_some_and(|addrs| addrs.iter().all(IpAddr::is_loopback))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn resolve_rules_take_host_addr_and_curls_host_port_addr() {
        let rule = ResolveRule::parse("Example.test:127.0.0.1").unwrap();
        assert_eq!(rule.host, ResolveHost::Name("example.test".into()));
        assert_eq!(rule.addrs, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let rule = ResolveRule::parse("example.test:443:[::1],192.0.2.1").unwrap();
        assert_eq!(rule.addrs.len(), 2);
        let rule = ResolveRule::parse("*:::1").unwrap();
        assert_eq!(rule.host, ResolveHost::Any);
        assert_eq!(rule.addrs, vec!["::1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn bad_resolve_rules_are_explained() {
        for bad in [
            "example.test",
            "example.test:localhost",
            "a b:127.0.0.1",
            "x:99999:1.2.3.4",
            ":1.2.3.4",
        ] {
            let err = ResolveRule::parse(bad).unwrap_err();
            assert!(err.contains("HOST:ADDR"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_named_rule_wins_over_the_wildcard() {
        let rules = [
            ResolveRule::parse("*:192.0.2.1").unwrap(),
            ResolveRule::parse("a.test:127.0.0.1").unwrap(),
        ];
        assert_eq!(
            ResolveRule::lookup(&rules, "A.test").unwrap()[0].to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            ResolveRule::lookup(&rules, "b.test").unwrap()[0].to_string(),
            "192.0.2.1"
        );
        assert!(ResolveRule::lookup(&rules[1..], "b.test").is_none());
    }

    #[test]
    fn repeated_rules_for_one_host_give_it_every_address() {
        let rules = [
            ResolveRule::parse("a.test:127.0.0.1").unwrap(),
            ResolveRule::parse("*:192.0.2.1").unwrap(),
            ResolveRule::parse("a.test:127.0.0.2,[::1]").unwrap(),
        ];
        let shown: Vec<String> = ResolveRule::lookup(&rules, "a.test")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["127.0.0.1", "127.0.0.2", "::1"]);
    }

    #[test]
    fn loopback_targets_are_recognised_including_through_resolve() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(is_loopback(&url("http://127.0.0.1:8000/"), &[]));
        assert!(is_loopback(&url("http://[::1]/"), &[]));
        assert!(is_loopback(&url("http://localhost/"), &[]));
        assert!(!is_loopback(&url("http://example.com/"), &[]));
        let rules = [ResolveRule::parse("example.com:127.0.0.1").unwrap()];
        assert!(is_loopback(&url("http://example.com/"), &rules));
        let rules = [ResolveRule::parse("example.com:127.0.0.1,192.0.2.1").unwrap()];
        assert!(!is_loopback(&url("http://example.com/"), &rules));
    }

    #[test]
    fn http_dates_parse_and_give_the_skew() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").is_none());
        assert!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT").is_none());
        let mut headers = HeaderMap::new();
        headers.insert(
            "date",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let local = t + Duration::from_secs(300);
        assert_eq!(clock_skew(&headers, local), Some(300));
        assert_eq!(clock_skew(&headers, t - Duration::from_secs(42)), Some(-42));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(77)));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn bodies_become_one_safe_line() {
        let headers = HeaderMap::new();
        let text = body_excerpt(b"line one\r\n\x1b[31mred\x07 \x00end", &headers, 100);
        assert_eq!(text, "\"line one [31mred end\"");
        assert_eq!(body_excerpt(b" \r\n", &headers, 100), "");
        assert_eq!(
            one_line(&"x".repeat(50), 10),
            format!("{}...", "x".repeat(10))
        );
        let mut html = HeaderMap::new();
        html.insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let text = body_excerpt(
            b"<html><head><title>Server Error (500)</title>...",
            &html,
            100,
        );
        assert_eq!(text, "(an HTML page titled \"Server Error (500)\")");
    }

    /// A real JWT's shape: header and payload are base64url JSON, so both start with `eyJ`.
    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6ImFiYyJ9.\
                       eyJ1c2VybmFtZSI6ImNlcnRib3QiLCJ0aW1lIjoxfQ.\
                       c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0LXNpZ25lZC1ieS10aGUta2V5";

    #[test]
    fn a_jwt_echoed_in_a_body_is_removed_from_the_message() {
        let body = format!("bad token: Authorization: JWT {JWT}\r\nbye");
        let shown = body_excerpt(body.as_bytes(), &HeaderMap::new(), 500);
        assert_eq!(shown, "\"bad token: Authorization: JWT [JWT removed] bye\"");
        let shown = body_excerpt_hiding(body.as_bytes(), &HeaderMap::new(), 500, &[JWT]);
        assert_eq!(shown, "\"bad token: Authorization: JWT [JWT removed] bye\"");
    }

    #[test]
    fn the_requests_own_jwt_is_removed_even_in_parts() {
        let signature = JWT.rsplit('.').next().unwrap();
        let shown = one_line_hiding(&format!("signature {signature} rejected"), 500, &[JWT]);
        assert_eq!(shown, "signature [JWT removed] rejected");
        // Without knowing the token, a lone signature is just text.
        assert!(one_line(signature, 500).contains(signature));
    }

    #[test]
    fn anything_shaped_like_a_jwt_is_removed_generously() {
        for (text, expected) in [
            (format!("x{JWT}y"), "x[JWT removed]"),
            (
                "token=eyJhbGciOiJub25lIn0.e30.".to_string(),
                "token=[JWT removed]",
            ),
            ("eyJhbGciOiJIUzI1NiJ9".to_string(), "[JWT removed]"),
            ("a eyJhbGciOi+/= b".to_string(), "a [JWT removed] b"),
            (
                format!("{JWT} and {JWT}"),
                "[JWT removed] and [JWT removed]",
            ),
            // Short runs and words are left alone.
            ("heyJude eyJa".to_string(), "heyJude eyJa"),
            ("no token here".to_string(), "no token here"),
        ] {
            assert_eq!(one_line(&text, 500), expected, "{text}");
        }
        // Removal comes before truncation, so a cut cannot leave half a token behind.
        let cut = one_line(&format!("{} {JWT}", "a".repeat(20)), 30);
        assert!(!cut.contains("eyJ") && cut.starts_with("aaaa"), "{cut}");
        // A title of an HTML page goes through the same sanitiser.
        let mut html = HeaderMap::new();
        html.insert("content-type", HeaderValue::from_static("text/html"));
        let page = format!("<title>denied {JWT}</title>");
        assert_eq!(
            body_excerpt(page.as_bytes(), &html, 100),
            "(an HTML page titled \"denied [JWT removed]\")"
        );
    }

    #[test]
    fn addresses_come_from_literals_then_resolve_rules() {
        let rules = [ResolveRule::parse("a.test:10.0.0.5,::1").unwrap()];
        let t = Duration::from_secs(1);
        assert_eq!(
            addresses_of("192.0.2.1", &rules, t),
            Some(vec!["192.0.2.1".parse().unwrap()])
        );
        assert_eq!(
            addresses_of("[fe80::1]", &rules, t),
            Some(vec!["fe80::1".parse().unwrap()])
        );
        assert_eq!(
            addresses_of("a.test", &rules, t),
            Some(vec!["10.0.0.5".parse().unwrap(), "::1".parse().unwrap()])
        );
        assert_eq!(addresses_of("nonexistent.invalid", &[], t), None);
    }

    #[test]
    fn the_deadline_caps_waits() {
        let d = Deadline::new(Duration::from_millis(50));
        assert!(d.cap(Duration::from_secs(10)) <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(d.remaining(), Duration::ZERO);
    }

    #[test]
    fn a_reserving_deadline_ends_earlier_but_names_the_whole_timeout() {
        let d = Deadline::new(Duration::from_secs(60));
        let early = d.reserving(Duration::from_secs(10));
        assert!(early.remaining() <= Duration::from_secs(50));
        assert!(early.remaining() > Duration::from_secs(49));
        assert_eq!(early.total(), Duration::from_secs(60));
        assert!(d.remaining() > Duration::from_secs(59));
        assert_eq!(
            d.reserving(Duration::from_secs(99)).remaining(),
            Duration::ZERO
        );
    }
}
