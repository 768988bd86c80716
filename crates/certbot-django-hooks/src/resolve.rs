//! Name resolution for the hooks' requests: curl-style `--resolve HOST:ADDR` rules, and the
//! resolver the HTTP clients use.
//!
//! Name lookups run on a detached thread per lookup rather than on Tokio's blocking pool: a
//! stuck `getaddrinfo` then cannot hold up the end of the process (dropping a runtime waits for
//! its blocking tasks), and the request timeout covers the lookup.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
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
}
