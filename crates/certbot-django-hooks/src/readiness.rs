//! The self-check: after the push, fetch the challenge the way the CA will, until it is served
//! through every address of the name and by every node behind the load balancer.
//!
//! certbot ignores the auth hook's exit status and asks the CA to validate regardless
//! (certbot#7990), and Let's Encrypt allows 5 failed validations per hostname per hour. So the
//! auth hook only reports success once the challenge is served wherever the CA may fetch it:
//! - **Every address.** Let's Encrypt validates from several vantage points at once, each
//!   resolving the name itself, and it tries IPv6 first, falling back to IPv4 only when the IPv6
//!   connection fails. So the check resolves the URL's host itself (A and AAAA, or the
//!   `--resolve` rules, all of them) and fetches through each address, with the URL's `Host`.
//!   An IPv6 address this machine has no route to (no IPv6 here at all) cannot be checked from
//!   here: that one is reported and skipped, not failed.
//! - **Every node.** `--self-check-node HOST[:PORT]`: the app servers behind the balancer,
//!   fetched directly over plain http with `Host` set to the URL's host, so a node that was not
//!   migrated or has a database of its own is named before the CA meets it.
//! - **The CA's rules**: redirects, body and status judged as Boulder's validator does
//!   ([`crate::ca_policy`]).
//! - **Only vetted addresses.** Each probe's client connects a host to the addresses pinned for
//!   it ([`crate::resolve::Pins`]): the URL's host to the address being checked, a redirect
//!   target to what [`RedirectPolicy::vet`] resolved (once per attempt) and vetted.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{HOST, HeaderValue, LOCATION};
use reqwest::{StatusCode, Url};

use crate::ca_policy::{
    LOOKUP_TIMEOUT, MAX_BODY, MAX_REDIRECTS, RedirectPolicy, body_matches, redirect_refusal,
};
use crate::client::{TlsMode, build_pinned_client};
use crate::deadline::Deadline;
use crate::error::{Error, causes};
use crate::files::read_at_most;
use crate::output::Reporter;
use crate::resolve::{Node, Pins, ResolveRule, addresses_of};
use crate::text::{body_excerpt, one_line};
use crate::transport_error::classify;

/// Longest single GET.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest URL or answer shown in a self-check message.
const MAX_SHOWN: usize = 300;

/// Poll interval: starts short (most sites serve at once), doubles to at most 2 s.
const FIRST_INTERVAL: Duration = Duration::from_millis(250);

const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// Where one fetch of the self-check goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One address of the URL's host, as a resolver gives it to the CA.
    Address(IpAddr),
    /// An app server, fetched directly.
    Node(Node),
    /// The URL's host when it does not resolve on this machine: fetched as the client reaches
    /// it (through a proxy from `http_proxy`, say), or failing with the lookup's own error.
    Unresolved(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Address(ip @ IpAddr::V4(_)) => write!(f, "{ip} (IPv4)"),
            Target::Address(ip @ IpAddr::V6(_)) => write!(f, "{ip} (IPv6)"),
            Target::Node(node) => write!(f, "node {node}"),
            Target::Unresolved(host) => write!(f, "{host} (not resolved on this machine)"),
        }
    }
}

/// How a successful self-check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Rounds of GETs made (redirect hops not counted).
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
    /// One line per address and node: `via 127.0.0.1 (IPv4): served (3 ms)`.
    pub lines: Vec<String>,
}

/// The result of one fetch, redirects followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with exactly the validation once trailing whitespace is trimmed.
    Served,
    /// Anything else, described for the operator.
    NotServed(String),
    /// No route from this machine to the address (an IPv6 address on a host without IPv6): it
    /// cannot be checked from here.
    Unreachable(String),
}

/// The addresses and nodes a check of `url` fetches through: every address of the URL's host
/// (an IP literal is its own one address), IPv6 first as the CA tries them, then the nodes.
/// `Err` says why the host cannot be resolved.
pub fn targets(
    url: &Url,
    resolve: &[ResolveRule],
    nodes: &[Node],
    deadline: Deadline,
) -> Result<Vec<Target>, String> {
    let mut addrs = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => {
            match addresses_of(name, resolve, deadline.cap(LOOKUP_TIMEOUT)) {
                Some(addrs) => addrs,
                None => {
                    return Err(format!(
                        "cannot resolve host '{name}' (A and AAAA) from this machine: check the \
                         name, or pass --resolve {name}:ADDR for each of its addresses"
                    ));
                }
            }
        }
        None => Vec::new(),
    };
    let mut seen = Vec::new();
    addrs.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    // Stable: IPv6 first, each family in the resolver's order.
    addrs.sort_by_key(|ip| ip.is_ipv4());
    Ok(addrs
        .into_iter()
        .map(Target::Address)
        .chain(nodes.iter().cloned().map(Target::Node))
        .collect())
}

/// One target's client, start URL and progress.
struct Probe {
    target: Target,
    client: reqwest::blocking::Client,
    /// What the client may connect to, per host.
    pins: Pins,
    /// The hosts pinned for the whole check: the URL's host, to the address being checked (or,
    /// for a node, to every address the URL's host had at the start).
    fixed: Vec<String>,
    start: Url,
    host_header: Option<HeaderValue>,
    outcome: Option<Result<String, String>>,
    last: String,
}

impl Probe {
    /// `start_addrs`: the URL's host's addresses, resolved once for the whole check.
    fn new(
        target: Target,
        url: &Url,
        start_addrs: &[IpAddr],
        resolve: &[ResolveRule],
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let pins = Pins::default();
        let mut fixed = Vec::new();
        let domain = match url.host() {
            Some(url::Host::Domain(name)) => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        let mut pin_start = |addrs: Vec<IpAddr>| {
            if let Some(name) = &domain
                && !addrs.is_empty()
            {
                pins.set(name, Ok(addrs));
                fixed.push(name.clone());
            }
        };
        let (start, host_header) = match &target {
            Target::Address(ip) => {
                pin_start(vec![*ip]);
                (url.clone(), None)
            }
            Target::Unresolved(_) => (url.clone(), None),
            Target::Node(node) => {
                pin_start(start_addrs.to_vec());
                // Plain http to the node itself, with the Host the CA sends.
                let mut start = url.clone();
                let authority = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_string(),
                };
                let moved = start.set_scheme("http").is_ok()
                    && start.set_host(Some(&node.host)).is_ok()
                    && start.set_port(Some(node.port)).is_ok();
                if !moved {
                    return Err(Error::config(
                        "--self-check-node",
                        format!("{node} cannot be put into a URL"),
                    ));
                }
                let host = HeaderValue::from_str(&authority).ok();
                (start, host)
            }
        };
        let client = build_pinned_client(TlsMode::AcceptAny, &pins, resolve, connect_timeout)?;
        Ok(Probe {
            target,
            client,
            pins,
            fixed,
            start,
            host_header,
            outcome: None,
            last: String::from("nothing: no attempt fitted in the deadline"),
        })
    }
}

/// Polls `url` through every address of its host and from every node until each serves
/// `validation`, or the deadline passes.
pub fn wait_until_served(
    url: &Url,
    validation: &str,
    resolve: &[ResolveRule],
    nodes: &[Node],
    deadline: Deadline,
    reporter: &Reporter,
) -> Result<Served, Error> {
    let started = Instant::now();
    let fail = |attempts: u32, last: String, hint: String| Error::SelfCheck {
        url: url.to_string(),
        waited_secs: started.elapsed().as_secs_f64(),
        attempts,
        last,
        hint,
    };
    // A name this machine cannot resolve may still be reached through a proxy; if not, the
    // fetch says why, as the lookup failed.
    let targets = targets(url, resolve, nodes, deadline).unwrap_or_else(|_| {
        std::iter::once(Target::Unresolved(
            url.host_str().unwrap_or_default().to_string(),
        ))
        .chain(nodes.iter().cloned().map(Target::Node))
        .collect()
    });
    let connect_timeout = deadline
        .cap(CONNECT_TIMEOUT)
        .max(Duration::from_millis(100));
    let start_addrs: Vec<IpAddr> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Address(ip) => Some(*ip),
            _ => None,
        })
        .collect();
    let mut probes = targets
        .into_iter()
        .map(|t| Probe::new(t, url, &start_addrs, resolve, connect_timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = RedirectPolicy::new(url, resolve, nodes);
    let mut attempts = 0u32;
    let mut interval = FIRST_INTERVAL;
    while !deadline.remaining().is_zero() {
        attempts += 1;
        policy.new_attempt();
        for probe in probes.iter_mut().filter(|p| p.outcome.is_none()) {
            let t = Instant::now();
            // A redirect target pinned by an earlier attempt is vetted again before any use.
            probe.pins.retain(&probe.fixed);
            let answer = fetch(probe, validation, deadline, &policy);
            let took = t.elapsed().as_millis();
            let via = &probe.target;
            match answer {
                Answer::Served => {
                    reporter.step(format_args!(
                        "self-check attempt {attempts}: {url} via {via} serves the validation \
                         ({took} ms)"
                    ));
                    probe.outcome = Some(Ok(format!("via {via}: served ({took} ms)")));
                }
                Answer::Unreachable(text) => {
                    reporter.warn(format_args!(
                        "self-check: {url} via {via} cannot be checked from this machine ({text}); \
                         the CA will try that address first: check it from a host with IPv6"
                    ));
                    probe.outcome = Some(Err(format!(
                        "via {via}: not checked, no route from this machine ({text})"
                    )));
                }
                Answer::NotServed(text) => {
                    reporter.step(format_args!(
                        "self-check attempt {attempts}: {url} via {via} answered {text} ({took} ms)"
                    ));
                    probe.last = text;
                }
            }
        }
        if probes.iter().all(|p| p.outcome.is_some()) {
            return Ok(Served {
                attempts,
                elapsed: started.elapsed(),
                lines: probes
                    .into_iter()
                    .filter_map(|p| p.outcome.map(|o| o.unwrap_or_else(|e| e)))
                    .collect(),
            });
        }
        if interval + Duration::from_millis(50) > deadline.remaining() {
            break;
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_INTERVAL);
    }
    let failing: Vec<&Probe> = probes.iter().filter(|p| p.outcome.is_none()).collect();
    let only_one = probes.len() == 1;
    let last = failing
        .iter()
        .map(|p| {
            if only_one {
                format!("{} (via {})", p.last, p.target)
            } else {
                format!("via {}: {}", p.target, p.last)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let host = url.host_str().unwrap_or_default();
    let mut hint = String::from(
        "The API stored the challenge, but the CA would not be served it everywhere it looks.",
    );
    if let Some(p) = failing
        .iter()
        .find(|p| matches!(p.target, Target::Address(_) | Target::Unresolved(_)))
    {
        let ipv6 = matches!(p.target, Target::Address(IpAddr::V6(_)));
        hint.push_str(&format!(
            " The CA resolves {host} itself (A and AAAA), from several places, and tries IPv6 \
             first, falling back to IPv4 only when the IPv6 connection fails; so every address \
             must serve the challenge.{} Check that each address reaches a node that serves \
             /.well-known/acme-challenge/ from the app on the shared database, and that no proxy \
             in front answers that path itself; remove an address that does not (a stale record), \
             or aim the check with --resolve or --self-check-url.",
            if ipv6 {
                " An IPv6 address (AAAA record) that answers wrongly fails the validation even \
                 when every IPv4 address serves it."
            } else {
                ""
            }
        ));
    }
    if failing.iter().any(|p| matches!(p.target, Target::Node(_))) {
        hint.push_str(
            " The load balancer may send the CA to any node named by --self-check-node (or \
             self_check_nodes): a node that does not serve the challenge lacks the app at that \
             path, was not migrated, or uses a database of its own; it must use the database \
             the API wrote to.",
        );
    }
    Err(fail(attempts, last, hint))
}

/// Most names checked at once by [`wait_until_all_served`].
pub const MAX_PARALLEL: usize = 16;

/// One name to check: the URL the CA will fetch and the validation it must serve.
#[derive(Debug, Clone)]
pub struct Check {
    /// The self-check URL of the challenge.
    pub url: Url,
    /// The key authorization it must serve.
    pub validation: String,
}

/// [`wait_until_served`] for several challenges at once (a certificate's names), at most
/// [`MAX_PARALLEL`] at a time, each by every rule of the single check (every address, every
/// node, the redirect guard), all within one deadline. Each thread's progress lines are relayed
/// to `reporter` as they come. The results are in the order of `checks`.
pub fn wait_until_all_served(
    checks: &[Check],
    resolve: &[ResolveRule],
    nodes: &[Node],
    deadline: Deadline,
    reporter: &Reporter,
) -> Vec<Result<Served, Error>> {
    if checks.len() <= 1 {
        return checks
            .iter()
            .map(|c| wait_until_served(&c.url, &c.validation, resolve, nodes, deadline, reporter))
            .collect();
    }
    let style = reporter.style();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Result<Served, Error>>>> =
        std::sync::Mutex::new(checks.iter().map(|_| None).collect());
    let (lines, relayed) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        for _ in 0..checks.len().min(MAX_PARALLEL) {
            let lines = lines.clone();
            let (next, results) = (&next, &results);
            scope.spawn(move || {
                let local = style.reporter(Box::new(Relay {
                    to: lines,
                    line: Vec::new(),
                }));
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(check) = checks.get(i) else { break };
                    let result = wait_until_served(
                        &check.url,
                        &check.validation,
                        resolve,
                        nodes,
                        deadline,
                        &local,
                    );
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(result);
                    }
                }
            });
        }
        drop(lines);
        for line in relayed {
            reporter.relay(&line);
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::SelfCheck {
                    url: String::new(),
                    waited_secs: 0.0,
                    attempts: 0,
                    last: "the check's thread ended without a result".into(),
                    hint: String::new(),
                })
            })
        })
        .collect()
}

/// A reporter's sink on a self-check thread: whole lines go to the thread that relays them.
struct Relay {
    to: std::sync::mpsc::Sender<Vec<u8>>,
    line: Vec<u8>,
}

impl std::io::Write for Relay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(end) = self.line.iter().rposition(|b| *b == b'\n') {
            let rest = self.line.split_off(end + 1);
            let whole = std::mem::replace(&mut self.line, rest);
            let _ = self.to.send(whole);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One fetch of the probe's start URL (sent with its `Host` header while it stays on the URL's
/// own host and port), following the redirects the CA would follow (`policy`), each to the
/// addresses vetted for it.
fn fetch(probe: &Probe, validation: &str, deadline: Deadline, policy: &RedirectPolicy) -> Answer {
    // Everything in the text may come from the response (a Location, a body): it reaches
    // stderr only through the one sanitiser, which also removes anything shaped like a JWT.
    match fetch_raw(probe, validation, deadline, policy) {
        Answer::Served => Answer::Served,
        Answer::NotServed(text) => Answer::NotServed(one_line(&text, 2 * MAX_SHOWN)),
        Answer::Unreachable(text) => Answer::Unreachable(one_line(&text, MAX_SHOWN)),
    }
}

/// Whether a request failed because this machine has no route to the address (ENETUNREACH,
/// or EADDRNOTAVAIL: no source address of that family).
fn no_route(err: &reqwest::Error) -> bool {
    causes(err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| matches!(io.raw_os_error(), Some(101 | 99)))
    })
}

fn fetch_raw(
    probe: &Probe,
    validation: &str,
    deadline: Deadline,
    policy: &RedirectPolicy,
) -> Answer {
    let (client, url, host) = (&probe.client, &probe.start, probe.host_header.as_ref());
    let own_port = url.port_or_known_default();
    let mut current = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        let timeout = deadline.cap(ATTEMPT_TIMEOUT);
        if timeout.is_zero() {
            return Answer::NotServed("nothing before the deadline".into());
        }
        let mut request = client.get(current.clone()).timeout(timeout);
        if let Some(host) = host
            && current.host_str() == url.host_str()
            && current.port_or_known_default() == own_port
        {
            request = request.header(HOST, host.clone());
        }
        let mut response = match request.send() {
            Ok(response) => response,
            Err(err) => {
                let via = if hop > 0 {
                    format!(" (after redirects, at {current})")
                } else {
                    String::new()
                };
                let text = format!("{}{via}", classify(&err));
                return if hop == 0 && no_route(&err) {
                    Answer::Unreachable(text)
                } else {
                    Answer::NotServed(text)
                };
            }
        };
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let Some(location) = response.headers().get(LOCATION) else {
                return Answer::NotServed(format!("{status} without a Location header"));
            };
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            let next = match current.join(&location) {
                Ok(next) => next,
                Err(_) => {
                    return Answer::NotServed(format!(
                        "{status} to an invalid Location {}",
                        one_line(&location, 200)
                    ));
                }
            };
            if let Some(refusal) = redirect_refusal(status.as_u16(), &next, own_port) {
                return Answer::NotServed(format!(
                    "{status} redirecting to {next}, which the CA will not follow: {refusal}"
                ));
            }
            if hop == MAX_REDIRECTS {
                return Answer::NotServed(format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {next}): the CA gives up \
                     there with \"Too many redirects\""
                ));
            }
            if let Err(refusal) = policy.vet(&next, &probe.pins, &probe.fixed, deadline) {
                return Answer::NotServed(format!(
                    "{status} redirecting to {next}, which the CA will not follow: {refusal}"
                ));
            }
            current = next;
            continue;
        }
        let headers = response.headers().clone();
        let (body, _) = read_at_most(&mut response, MAX_BODY);
        let via = if hop > 0 {
            format!(" (after {hop} redirect(s), at {current})")
        } else {
            String::new()
        };
        if status == StatusCode::OK {
            if body_matches(&body, validation) {
                return Answer::Served;
            }
            let excerpt = body_excerpt(&body, &headers, 100);
            return Answer::NotServed(if excerpt.is_empty() {
                format!("200 OK with an empty body{via}")
            } else {
                format!("200 OK with a different body{via}: {excerpt}")
            });
        }
        let excerpt = body_excerpt(&body, &headers, 100);
        let only = if status.is_success() {
            " (the CA accepts only 200)"
        } else {
            ""
        };
        return Answer::NotServed(if excerpt.is_empty() {
            format!("{status}{only}{via}")
        } else {
            format!("{status}{only} {excerpt}{via}")
        });
    }
    unreachable!("the loop returns by the last hop")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca_policy::tests::{rules, url};

    #[test]
    fn every_address_is_a_target_ipv6_first_then_the_nodes() {
        let deadline = Deadline::new(Duration::from_secs(5));
        let nodes = [Node::parse("10.0.0.5:8000").unwrap()];
        let shown = |t: Vec<Target>| t.iter().map(ToString::to_string).collect::<Vec<_>>();
        let t = targets(
            &url("http://a.test/x"),
            &rules(&["a.test:127.0.0.1", "a.test:::1,127.0.0.2", "*:192.0.2.1"]),
            &nodes,
            deadline,
        )
        .unwrap();
        assert_eq!(
            shown(t),
            [
                "::1 (IPv6)",
                "127.0.0.1 (IPv4)",
                "127.0.0.2 (IPv4)",
                "node 10.0.0.5:8000"
            ]
        );
        let t = targets(&url("http://[2001:db8::7]:8080/x"), &[], &[], deadline).unwrap();
        assert_eq!(shown(t), ["2001:db8::7 (IPv6)"]);
        let err = targets(&url("http://nonexistent.invalid/x"), &[], &[], deadline).unwrap_err();
        assert!(
            err.starts_with("cannot resolve host 'nonexistent.invalid' (A and AAAA)"),
            "{err}"
        );
    }
}
