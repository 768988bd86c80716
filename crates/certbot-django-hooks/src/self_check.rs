//! The self-check: after the push, fetch the challenge the way the CA will, until it is served.
//!
//! certbot ignores the auth hook's exit status and asks the CA to validate regardless
//! (certbot#7990), and Let's Encrypt allows 5 failed validations per hostname per hour. So the
//! auth hook only reports success once the public URL answers 200 with exactly the validation.
//! Like Let's Encrypt, the check sends no credentials, follows at most 10 redirects and only to
//! ports 80 and 443, and does not validate the certificate of an https redirect target. One
//! addition: redirects to the starting URL's own port are allowed too, so a test or staging site
//! on, say, port 5002 can be checked; the CA itself always starts on port 80.
//!
//! Let's Encrypt never connects to a private, loopback, link-local or otherwise reserved address
//! (Boulder drops such addresses from every lookup, by the IANA special-purpose registries), so
//! a redirect to a host that has only such addresses fails its validation. The check refuses to
//! follow such a redirect too, naming the address ([`reserved_range`]), unless the URL it started
//! from is itself on such an address: a test or staging site on 127.0.0.1 or a LAN keeps working.
//! The addresses are looked up as the client would connect (IP literal, `--resolve`, DNS), and
//! only for a redirect to another host than the starting URL's, so the usual http-to-https
//! redirect of the same name costs nothing.

use std::cell::OnceCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use reqwest::header::LOCATION;
use reqwest::{StatusCode, Url};

use crate::error::Error;
use crate::output::Reporter;
use crate::transport::{
    Deadline, ResolveRule, TlsMode, addresses_of, body_excerpt, build_client, classify, one_line,
    read_capped,
};

/// Most of a self-check body that is read: the validation is 44 to 172 characters.
pub const MAX_BODY: u64 = 512;
/// Redirects followed per attempt, as Let's Encrypt does.
pub const MAX_REDIRECTS: usize = 10;
/// Longest single GET.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a redirect target's (or the starting URL's) name lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest URL or answer shown in a self-check message.
const MAX_SHOWN: usize = 300;
/// Poll interval: starts short (most sites serve at once), doubles to at most 2 s.
const FIRST_INTERVAL: Duration = Duration::from_millis(250);
const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// How a successful self-check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// GETs made (redirect hops not counted).
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
}

/// The result of one fetch, redirects followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with exactly the validation (and at most one trailing newline).
    Served,
    /// Anything else, described for the operator.
    NotServed(String),
}

/// Polls `url` until it serves `validation` or the deadline passes.
pub fn wait_until_served(
    url: &Url,
    validation: &str,
    resolve: &[ResolveRule],
    deadline: Deadline,
    reporter: &Reporter,
) -> Result<Served, Error> {
    let started = Instant::now();
    let client = build_client(
        TlsMode::AcceptAny,
        resolve,
        None,
        deadline
            .cap(CONNECT_TIMEOUT)
            .max(Duration::from_millis(100)),
    )?;
    let policy = RedirectPolicy::new(url, resolve);
    let mut attempts = 0u32;
    let mut interval = FIRST_INTERVAL;
    let mut last = String::from("nothing: no attempt fitted in the deadline");
    while !deadline.remaining().is_zero() {
        attempts += 1;
        let t = Instant::now();
        let answer = fetch(&client, url, validation, deadline, &policy);
        let took = t.elapsed().as_millis();
        match answer {
            Answer::Served => {
                reporter.step(format_args!(
                    "self-check attempt {attempts}: {url} serves the validation ({took} ms)"
                ));
                return Ok(Served {
                    attempts,
                    elapsed: started.elapsed(),
                });
            }
            Answer::NotServed(text) => {
                reporter.step(format_args!(
                    "self-check attempt {attempts}: {url} answered {text} ({took} ms)"
                ));
                last = text;
            }
        }
        if interval + Duration::from_millis(50) > deadline.remaining() {
            break;
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_INTERVAL);
    }
    Err(Error::SelfCheck {
        url: url.to_string(),
        waited_secs: started.elapsed().as_secs_f64(),
        attempts,
        last,
        hint: "The API stored the challenge, but the URL the CA fetches does not serve it. Check \
               that every node behind the load balancer serves /.well-known/acme-challenge/ from \
               the app and shares its database, and that no proxy in front answers that path \
               itself; aim the check at a node with --resolve, or change --self-check-url. certbot \
               will still ask the CA to validate, which will probably fail."
            .to_string(),
    })
}

/// One fetch of `url`, following the redirects the CA would follow (`policy`).
pub fn fetch(
    client: &reqwest::blocking::Client,
    url: &Url,
    validation: &str,
    deadline: Deadline,
    policy: &RedirectPolicy,
) -> Answer {
    match fetch_raw(client, url, validation, deadline, policy) {
        Answer::Served => Answer::Served,
        // Everything in the text may come from the response (a Location, a body): it reaches
        // stderr only through the one sanitiser, which also removes anything shaped like a JWT.
        Answer::NotServed(text) => Answer::NotServed(one_line(&text, 2 * MAX_SHOWN)),
    }
}

fn fetch_raw(
    client: &reqwest::blocking::Client,
    url: &Url,
    validation: &str,
    deadline: Deadline,
    policy: &RedirectPolicy,
) -> Answer {
    let own_port = url.port_or_known_default();
    let mut current = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        let timeout = deadline.cap(ATTEMPT_TIMEOUT);
        if timeout.is_zero() {
            return Answer::NotServed("nothing before the deadline".into());
        }
        let mut response = match client.get(current.clone()).timeout(timeout).send() {
            Ok(response) => response,
            Err(err) => {
                let via = if hop > 0 {
                    format!(" (after redirects, at {current})")
                } else {
                    String::new()
                };
                return Answer::NotServed(format!("{}{via}", classify(&err)));
            }
        };
        let status = response.status();
        if status.is_redirection() {
            let Some(location) = response.headers().get(LOCATION) else {
                return Answer::NotServed(format!("{status} without a Location header"));
            };
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            let next = match current.join(&location) {
                Ok(next) => next,
                Err(_) => {
                    return Answer::NotServed(format!(
                        "{status} to an invalid Location {}",
                        crate::transport::one_line(&location, 200)
                    ));
                }
            };
            if hop == MAX_REDIRECTS {
                return Answer::NotServed(format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {next}); the CA gives up there too"
                ));
            }
            let port = next.port_or_known_default();
            let allowed_scheme = matches!(next.scheme(), "http" | "https");
            let allowed_port = matches!(port, Some(80 | 443)) || port == own_port;
            if !allowed_scheme || !allowed_port {
                return Answer::NotServed(format!(
                    "{status} redirecting to {next}, which the CA will not follow: it follows \
                     redirects only to http or https on ports 80 and 443"
                ));
            }
            if let Some(refusal) = policy.refusal(&next, deadline) {
                return Answer::NotServed(format!(
                    "{status} redirecting to {next}, which the CA will not follow: {refusal}"
                ));
            }
            current = next;
            continue;
        }
        let headers = response.headers().clone();
        let body = read_capped(&mut response, MAX_BODY);
        if status == StatusCode::OK {
            let served = body == validation.as_bytes()
                || body.strip_suffix(b"\n") == Some(validation.as_bytes());
            if served {
                return Answer::Served;
            }
            let excerpt = body_excerpt(&body, &headers, 100);
            return Answer::NotServed(if excerpt.is_empty() {
                "200 OK with an empty body".to_string()
            } else {
                format!("200 OK with a different body: {excerpt}")
            });
        }
        let excerpt = body_excerpt(&body, &headers, 100);
        return Answer::NotServed(if excerpt.is_empty() {
            status.to_string()
        } else {
            format!("{status} {excerpt}")
        });
    }
    unreachable!("the loop returns by the last hop")
}

/// Which redirects the CA would refuse for their address: see the module comment.
pub struct RedirectPolicy {
    start: Url,
    resolve: Vec<ResolveRule>,
    /// Whether the starting URL is itself on a reserved address; looked up at the first redirect
    /// to another host, then kept.
    start_reserved: OnceCell<bool>,
}

impl RedirectPolicy {
    /// The policy for a check that starts at `start`, with the run's `--resolve` rules.
    pub fn new(start: &Url, resolve: &[ResolveRule]) -> Self {
        RedirectPolicy {
            start: start.clone(),
            resolve: resolve.to_vec(),
            start_reserved: OnceCell::new(),
        }
    }

    /// Why the CA would not connect to `next`'s host, or `None` if it would (or if its name
    /// does not resolve here: the fetch then says so itself).
    pub fn refusal(&self, next: &Url, deadline: Deadline) -> Option<String> {
        let host = next.host_str()?;
        if Some(host) == self.start.host_str() {
            return None;
        }
        let timeout = deadline.cap(LOOKUP_TIMEOUT);
        let start_reserved = *self.start_reserved.get_or_init(|| {
            self.start
                .host_str()
                .and_then(|h| addresses_of(h, &self.resolve, timeout))
                .is_some_and(|addrs| addrs.iter().any(|ip| reserved_range(*ip).is_some()))
        });
        if start_reserved {
            return None;
        }
        let addrs = addresses_of(host, &self.resolve, timeout)?;
        let (ip, range) = refused_address(&addrs)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let which = if bare == ip.to_string() {
            format!("{ip} is {range}")
        } else if addrs.len() == 1 {
            format!("{host} resolves to {ip}, {range}")
        } else {
            format!("{host} resolves only to reserved addresses such as {ip}, {range}")
        };
        Some(format!(
            "{which}, and Let's Encrypt refuses to connect to private, loopback, link-local and \
             other reserved addresses: redirect to a public name of the site"
        ))
    }
}

/// The address that makes the CA refuse a host with these addresses, and its range: `Some` only
/// when every address is reserved (Boulder drops reserved addresses from a lookup and fails
/// only when none is left).
pub fn refused_address(addrs: &[IpAddr]) -> Option<(IpAddr, &'static str)> {
    let mut first = None;
    for ip in addrs {
        let range = reserved_range(*ip)?;
        first.get_or_insert((*ip, range));
    }
    first
}

/// The special-purpose range of `ip` that Let's Encrypt refuses to connect to, as a phrase for
/// messages ("a private address (RFC 1918)"), or `None` for an address it connects to. The
/// ranges are Boulder's: the IANA IPv4 and IPv6 special-purpose address registries' blocks that
/// are not globally reachable, plus multicast, 6to4 and the whole IPv4-mapped block.
pub fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => reserved_v4(ip),
        IpAddr::V6(ip) => reserved_v6(ip),
    }
}

fn reserved_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "a \"this network\" address (RFC 1122)"),
        ([10, 0, 0, 0], 8, "a private address (RFC 1918)"),
        (
            [100, 64, 0, 0],
            10,
            "a shared (carrier-grade NAT) address (RFC 6598)",
        ),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([172, 16, 0, 0], 12, "a private address (RFC 1918)"),
        ([192, 0, 0, 0], 24, "an IETF protocol assignment (RFC 6890)"),
        ([192, 0, 2, 0], 24, "a documentation address (RFC 5737)"),
        (
            [192, 88, 99, 0],
            24,
            "a 6to4 relay anycast address (RFC 7526)",
        ),
        ([192, 168, 0, 0], 16, "a private address (RFC 1918)"),
        ([198, 18, 0, 0], 15, "a benchmarking address (RFC 2544)"),
        ([198, 51, 100, 0], 24, "a documentation address (RFC 5737)"),
        ([203, 0, 113, 0], 24, "a documentation address (RFC 5737)"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        (
            [240, 0, 0, 0],
            4,
            "a reserved address (RFC 1112, broadcast included)",
        ),
    ];
    let bits = u32::from(ip);
    RANGES.iter().find_map(|(net, len, name)| {
        let mask = u32::MAX << (32 - len);
        (bits & mask == u32::from_be_bytes(*net)).then_some(*name)
    })
}

fn reserved_v6(ip: Ipv6Addr) -> Option<&'static str> {
    const RANGES: &[(u128, u32, &str)] = &[
        (0, 128, "the unspecified address"),
        (1, 128, "a loopback address"),
        (0xffff_0000_0000, 96, "an IPv4-mapped address (RFC 4291)"),
        (
            0x0064_ff9b_0001 << 80,
            48,
            "a local-use translation address (RFC 8215)",
        ),
        (0x0100 << 112, 64, "a discard-only address (RFC 6666)"),
        (0x2001 << 112, 23, "an IETF protocol assignment (RFC 2928)"),
        (0x2001_0db8 << 96, 32, "a documentation address (RFC 3849)"),
        (0x2002 << 112, 16, "a 6to4 address (RFC 7526)"),
        (0x3fff << 112, 20, "a documentation address (RFC 9637)"),
        (0x5f00 << 112, 16, "a segment routing address (RFC 9602)"),
        (
            0xfc00 << 112,
            7,
            "a unique local (private) address (RFC 4193)",
        ),
        (0xfe80 << 112, 10, "a link-local address"),
        (0xff00 << 112, 8, "a multicast address"),
    ];
    let bits = u128::from(ip);
    RANGES.iter().find_map(|(net, len, name)| {
        let mask = u128::MAX << (128 - len);
        (bits & mask == *net).then_some(*name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ip: &str) -> Option<&'static str> {
        reserved_range(ip.parse().unwrap())
    }

    #[test]
    fn the_ranges_lets_encrypt_refuses_are_recognised() {
        for (ip, expected) in [
            ("10.1.2.3", "a private address (RFC 1918)"),
            ("172.31.255.255", "a private address (RFC 1918)"),
            ("192.168.0.1", "a private address (RFC 1918)"),
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("169.254.169.254", "a link-local address"),
            (
                "100.64.0.1",
                "a shared (carrier-grade NAT) address (RFC 6598)",
            ),
            ("0.0.0.0", "a \"this network\" address (RFC 1122)"),
            ("192.0.2.7", "a documentation address (RFC 5737)"),
            ("198.19.255.255", "a benchmarking address (RFC 2544)"),
            ("224.0.0.251", "a multicast address"),
            (
                "255.255.255.255",
                "a reserved address (RFC 1112, broadcast included)",
            ),
            ("::1", "a loopback address"),
            ("::", "the unspecified address"),
            ("::ffff:8.8.8.8", "an IPv4-mapped address (RFC 4291)"),
            ("fe80::1", "a link-local address"),
            ("febf::1", "a link-local address"),
            (
                "fd12:3456::1",
                "a unique local (private) address (RFC 4193)",
            ),
            ("fc00::1", "a unique local (private) address (RFC 4193)"),
            ("2001:db8::1", "a documentation address (RFC 3849)"),
            ("2002:c000:204::1", "a 6to4 address (RFC 7526)"),
            ("ff02::1", "a multicast address"),
            ("100::1", "a discard-only address (RFC 6666)"),
            ("64:ff9b:1::1", "a local-use translation address (RFC 8215)"),
        ] {
            assert_eq!(range(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_and_range_edges_are_not_reserved() {
        for ip in [
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "192.167.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::6810:84e5",
            "2a00:1450:4001:82b::200e",
            "fec0::1",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn a_host_is_refused_only_when_every_address_is_reserved() {
        let ips =
            |list: &[&str]| -> Vec<IpAddr> { list.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(
            refused_address(&ips(&["10.0.0.5", "fd00::5"])),
            Some(("10.0.0.5".parse().unwrap(), "a private address (RFC 1918)"))
        );
        assert_eq!(refused_address(&ips(&["10.0.0.5", "93.184.215.14"])), None);
        assert_eq!(refused_address(&[]), None);
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn rules(list: &[&str]) -> Vec<ResolveRule> {
        list.iter()
            .map(|r| ResolveRule::parse(r).unwrap())
            .collect()
    }

    #[test]
    fn a_public_start_may_not_be_redirected_to_a_private_address() {
        let deadline = Deadline::new(Duration::from_secs(5));
        let policy = RedirectPolicy::new(
            &url("http://www.example.com/.well-known/acme-challenge/t"),
            &rules(&[
                "www.example.com:93.184.215.14",
                "internal.example.com:10.0.0.5",
            ]),
        );
        assert_eq!(
            policy.refusal(&url("http://10.1.2.3/x"), deadline).unwrap(),
            "10.1.2.3 is a private address (RFC 1918), and Let's Encrypt refuses to connect to \
             private, loopback, link-local and other reserved addresses: redirect to a public \
             name of the site"
        );
        let text = policy
            .refusal(&url("https://internal.example.com/x"), deadline)
            .unwrap();
        assert!(
            text.starts_with("internal.example.com resolves to 10.0.0.5, a private address"),
            "{text}"
        );
        let text = policy
            .refusal(&url("http://[fe80::1]/x"), deadline)
            .unwrap();
        assert!(
            text.starts_with("fe80::1 is a link-local address"),
            "{text}"
        );
        let text = policy
            .refusal(&url("http://127.0.0.1:80/x"), deadline)
            .unwrap();
        assert!(
            text.starts_with("127.0.0.1 is a loopback address"),
            "{text}"
        );
        // Public targets, and the same host (https), are followed.
        assert_eq!(
            policy.refusal(&url("http://93.184.215.15/x"), deadline),
            None
        );
        assert_eq!(
            policy.refusal(&url("https://www.example.com/x"), deadline),
            None
        );
    }

    #[test]
    fn a_start_on_a_reserved_address_may_be_redirected_anywhere() {
        let deadline = Deadline::new(Duration::from_secs(5));
        for (start, resolve) in [
            ("http://127.0.0.1:5002/x", vec![]),
            ("http://[::1]:5002/x", vec![]),
            ("http://site.test/x", rules(&["site.test:192.168.1.10"])),
        ] {
            let policy = RedirectPolicy::new(&url(start), &resolve);
            for target in [
                "http://10.1.2.3/x",
                "http://localhost/x",
                "http://[fd00::1]/x",
            ] {
                assert_eq!(
                    policy.refusal(&url(target), deadline),
                    None,
                    "{start} -> {target}"
                );
            }
        }
    }
}
