//! Name resolution for the hooks' requests: curl-style `--resolve HOST:ADDR` rules, the
//! resolver the API client uses, and the pinned resolver of the self-check.
//!
//! The self-check's clients never look a redirect target up themselves: the check resolves each
//! host once per attempt, vets the addresses ([`crate::ca_policy`]), and pins them ([`Pins`]);
//! the client's resolver ([`PinnedResolver`]) answers a pinned host from the pin only, so what
//! it connects to is exactly what was vetted (no second lookup for DNS rebinding to answer).
//!
//! Name lookups run on a detached thread per lookup rather than on Tokio's blocking pool: a
//! stuck `getaddrinfo` then cannot hold up the end of the process (dropping a runtime waits for
//! its blocking tasks), and the request timeout covers the lookup.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

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
                crate::text::echo(value)
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

pub(crate) struct OverrideResolver {
    pub(crate) rules: Vec<ResolveRule>,
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

/// Where the addresses of a host came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The host is an IP literal.
    Literal,
    /// A `--resolve` rule: the user named the addresses.
    Rule,
    /// The system resolver (DNS, /etc/hosts): nobody vouches for them.
    System,
}

/// The addresses `host` stands for, as the clients would connect, and where they came from: an
/// IP literal (IPv6 with or without brackets), else a `--resolve` rule, else the system
/// resolver, waited for at most `timeout` (on a detached thread, for the reason the module
/// comment gives). `Err` is why the name did not resolve in time.
pub fn lookup(
    host: &str,
    resolve: &[ResolveRule],
    timeout: Duration,
) -> Result<(Vec<IpAddr>, Origin), String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok((vec![ip], Origin::Literal));
    }
    if let Some(addrs) = ResolveRule::lookup(resolve, host) {
        return Ok((addrs.to_vec(), Origin::Rule));
    }
    system_lookup(host, timeout).map(|addrs| (addrs, Origin::System))
}

/// One lookup of `host` by the system resolver (A and AAAA), on a detached thread, waited for at
/// most `timeout`.
pub fn system_lookup(host: &str, timeout: Duration) -> Result<Vec<IpAddr>, String> {
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
        .map_err(|e| format!("cannot start a lookup thread: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err("no addresses".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:.1} s", timeout.as_secs_f64())),
    }
}

/// [`lookup`]'s addresses, or `None` when the name does not resolve in time.
pub fn addresses_of(host: &str, resolve: &[ResolveRule], timeout: Duration) -> Option<Vec<IpAddr>> {
    lookup(host, resolve, timeout).ok().map(|(addrs, _)| addrs)
}

/// What a self-check client may connect to, per host (lowercase, as in the URL): the addresses
/// vetted for it, or why it has none (the lookup's error, which the request then fails with).
/// Clones share the map.
#[derive(Debug, Clone, Default)]
pub struct Pins(Arc<Mutex<HashMap<String, Pin>>>);

/// A host's pin: its vetted addresses, or the lookup's error.
pub type Pin = Result<Vec<IpAddr>, String>;

impl Pins {
    /// Pins `host` to `addrs`, or to a lookup error.
    pub fn set(&self, host: &str, pin: Pin) {
        self.lock().insert(host.to_ascii_lowercase(), pin);
    }

    /// What `host` is pinned to, if it is.
    pub fn get(&self, host: &str) -> Option<Pin> {
        self.lock().get(&host.to_ascii_lowercase()).cloned()
    }

    /// Forgets every pin but those of `keep`.
    pub fn retain(&self, keep: &[String]) {
        self.lock().retain(|host, _| keep.contains(host));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pin>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The self-check clients' resolver: a pinned host gets its pin and nothing else, never a lookup
/// of its own. Only a host nobody pinned (the proxy's, from `http_proxy`; the first request to a
/// `--self-check-node` name or to a start host that did not resolve) goes to `fallback`.
pub(crate) struct PinnedResolver {
    pub(crate) pins: Pins,
    pub(crate) fallback: OverrideResolver,
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        match self.pins.get(name.as_str()) {
            Some(Ok(addrs)) => {
                let addrs: Vec<SocketAddr> =
                    addrs.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
                Box::pin(std::future::ready(Ok(Box::new(addrs.into_iter()) as Addrs)))
            }
            Some(Err(message)) => {
                let error: Box<dyn StdError + Send + Sync> = Box::new(DnsError {
                    host: name.as_str().to_string(),
                    message,
                });
                Box::pin(std::future::ready(Err(error)))
            }
            None => self.fallback.resolve(name),
        }
    }
}

/// An app server behind the load balancer (`--self-check-node HOST[:PORT]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The host as it goes into a URL: a name, an IPv4 address, or a bracketed IPv6 address.
    pub host: String,
    /// The port; 80 when not given.
    pub port: u16,
}

impl Node {
    /// Parses `HOST[:PORT]`: `10.0.0.5`, `app1.internal:8000`, `[2001:db8::5]:8000`, or a bare
    /// IPv6 address (then without a port).
    pub fn parse(value: &str) -> Result<Node, String> {
        let bad = |why: &str| {
            format!(
                "{} is not HOST[:PORT] (for example '10.0.0.5', 'app1.internal:8000' or \
                 '[2001:db8::5]:8000'): {why}",
                crate::text::echo(value)
            )
        };
        let port_of = |p: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(port) if port > 0 => Ok(port),
                _ => Err(bad("PORT must be a number from 1 to 65535")),
            }
        };
        if let Ok(ip) = value.parse::<Ipv6Addr>() {
            return Ok(Node {
                host: format!("[{ip}]"),
                port: 80,
            });
        }
        let (host, port) = if let Some(rest) = value.strip_prefix('[') {
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("a '[' without its ']'"))?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| bad("brackets must enclose an IPv6 address"))?;
            let port = match after {
                "" => 80,
                _ => port_of(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("':PORT' must follow ']'"))?,
                )?,
            };
            (format!("[{ip}]"), port)
        } else {
            let (host, port) = match value.split_once(':') {
                Some((host, port)) => (host, port_of(port)?),
                None => (value, 80),
            };
            match crate::challenge::Identifier::parse(host) {
                Ok(crate::challenge::Identifier::Dns(name)) => (name, port),
                Ok(crate::challenge::Identifier::Ip(ip)) => (ip.to_string(), port),
                Err(_) => return Err(bad("HOST must be a host name or an IP address")),
            }
        };
        Ok(Node { host, port })
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn nodes_are_host_and_port_with_80_by_default() {
        for (text, host, port) in [
            ("10.0.0.5", "10.0.0.5", 80),
            ("10.0.0.5:8000", "10.0.0.5", 8000),
            ("App1.Internal:8001", "app1.internal", 8001),
            ("[2001:db8::5]:8000", "[2001:db8::5]", 8000),
            ("[::1]", "[::1]", 80),
            ("::1", "[::1]", 80),
        ] {
            let node = Node::parse(text).unwrap();
            assert_eq!((node.host.as_str(), node.port), (host, port), "{text}");
        }
        for bad in [
            "",
            "a b",
            "host:0",
            "host:http",
            "[::1",
            "[nope]:80",
            "host:99999",
        ] {
            let err = Node::parse(bad).unwrap_err();
            assert!(err.contains("HOST[:PORT]"), "{bad}: {err}");
        }
    }
}
