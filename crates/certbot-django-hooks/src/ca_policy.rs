//! The CA's rules for an HTTP-01 fetch (Boulder's validator), which the self-check follows so
//! that it passes only where the CA's own fetch would:
//!
//! - At most 10 redirects, only 301, 302, 307
//!   and 308, only to http or https on ports 80 and 443, never to a reserved address; at most 128
//!   bytes of the body are read, trailing whitespace is trimmed, and only 200 counts. A redirect
//!   the CA would refuse fails with the CA's reason. One addition: a redirect to the starting
//!   URL's own port is followed too, so a test or staging site on, say, port 5002 can be checked;
//!   the CA itself always starts on port 80, so in production this adds nothing. Like the CA, the
//!   check sends no credentials and does not validate the certificate of an https redirect target.
//!
//! Let's Encrypt never connects to a private, loopback, link-local or otherwise reserved address
//! (Boulder drops such addresses from every lookup, by the IANA special-purpose registries). The
//! check runs as root on the certbot host, inside the network, and prints what it fetched, so a
//! redirect is its way in (issue 19: a public name redirecting to a name with one public and one
//! loopback address had the hook fetch a service on the certbot host's loopback). So
//! ([`RedirectPolicy::vet`]):
//! - A redirect target is resolved once per attempt, and refused if **any** of its addresses is
//!   reserved ([`first_reserved`]), naming that address. Its addresses are then pinned
//!   ([`Pins`]): the client connects to exactly those, and never looks the name up itself, so
//!   DNS rebinding has no second lookup to answer.
//! - The local-testing allowance covers only addresses the user named: a `--resolve` rule's (for
//!   the name it names, or `*`), the `--self-check-url`'s literal address, a literal
//!   `--self-check-node`, and an IP literal in a redirect that is one of those. A test or staging
//!   site on 127.0.0.1 or a LAN keeps working through `--resolve`; what DNS (or /etc/hosts)
//!   returns is never allowed, whatever the starting host is (the old rule, "anything goes when
//!   the start is on a reserved address", is gone). The e2e tests and the demo name their sites
//!   by `--resolve` rules and literal addresses.
//! - A redirect to the starting URL's own host stays on what the check started with: the
//!   address being checked (pinned), or, for a node or a host that did not resolve at the
//!   start, one lookup per attempt, not vetted: the start host's addresses are the operator's
//!   own, fetched at the first hop anyway (a split-horizon site on 10.0.0.5 keeps working).
//! - A redirect target that does not resolve here is pinned to its lookup error: the fetch fails
//!   with it, or an `http_proxy` reaches the name. Through a proxy the proxy connects, after a
//!   lookup of its own: the check can vet the name it hands on, not pin its address.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::deadline::Deadline;
use crate::reserved::{first_reserved, reserved_range};
use crate::resolve::{Node, Pins, ResolveRule, system_lookup};

/// Most of a self-check body that is read, as Boulder reads it: the validation is at most 127
/// characters here, so a longer body never matches.
pub const MAX_BODY: u64 = 128;

/// Redirects followed per attempt, as Let's Encrypt does.
pub const MAX_REDIRECTS: usize = 10;

/// The only redirect statuses the CA follows.
pub const REDIRECT_STATUSES: [u16; 4] = [301, 302, 307, 308];

/// Longest wait for a redirect target's (or the starting URL's) name lookup.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the CA makes of a redirect from `status` to `next`: `Err` with its reason when it would
/// not follow it. `own_port` is the starting URL's port (see the module comment).
pub fn redirect_refusal(status: u16, next: &Url, own_port: Option<u16>) -> Option<String> {
    if !REDIRECT_STATUSES.contains(&status) {
        return Some(format!(
            "the CA follows only 301, 302, 307 and 308 redirects, so a {status} fails the \
             validation: answer 301 or 302 instead, or serve the challenge"
        ));
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Some(format!(
            "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol \
             schemes are supported, not \"{}\" (the CA's words)",
            next.scheme()
        ));
    }
    let port = next.port_or_known_default();
    if !(matches!(port, Some(80 | 443)) || port == own_port) {
        return Some(format!(
            "Invalid port in redirect target. Only ports 80 and 443 are supported, not {} (the \
             CA's words)",
            port.map_or_else(|| "none".to_string(), |p| p.to_string())
        ));
    }
    None
}

/// Whether a 200 body is the validation as the CA judges it: the first 128 bytes, trailing
/// whitespace trimmed, exactly equal.
pub fn body_matches(body: &[u8], validation: &str) -> bool {
    let shown = &body[..body.len().min(MAX_BODY as usize)];
    let trimmed = match std::str::from_utf8(shown) {
        Ok(text) => text.trim_end().as_bytes(),
        Err(_) => shown,
    };
    trimmed == validation.as_bytes()
}

/// A lookup by the system resolver: [`system_lookup`], or a test's stand-in.
pub type SystemLookup = dyn Fn(&str, Duration) -> Result<Vec<IpAddr>, String>;

const REFUSES: &str = "and Let's Encrypt refuses to connect to private, loopback, link-local and \
                       other reserved addresses";

/// Which redirects the check follows, and where it connects for them: see the module comment.
pub struct RedirectPolicy {
    /// The starting URL's host, lowercase.
    start_host: Option<String>,
    resolve: Vec<ResolveRule>,
    /// The addresses the user named: the allowance for reserved ones.
    named: Vec<IpAddr>,
    system: Box<SystemLookup>,
    /// This attempt's system lookups: each name is looked up once per attempt.
    looked_up: RefCell<HashMap<String, Result<Vec<IpAddr>, String>>>,
}

impl RedirectPolicy {
    /// The policy for a check that starts at `start`, with the run's `--resolve` rules and
    /// `--self-check-node`s, resolving other names with the system resolver.
    pub fn new(start: &Url, resolve: &[ResolveRule], nodes: &[Node]) -> Self {
        Self::with_lookup(start, resolve, nodes, Box::new(system_lookup))
    }

    /// [`RedirectPolicy::new`] with another system lookup (a test's).
    pub fn with_lookup(
        start: &Url,
        resolve: &[ResolveRule],
        nodes: &[Node],
        system: Box<SystemLookup>,
    ) -> Self {
        let literal = |host: &str| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        };
        let mut named: Vec<IpAddr> = resolve.iter().flat_map(|r| r.addrs.clone()).collect();
        named.extend(start.host_str().and_then(literal));
        named.extend(nodes.iter().filter_map(|n| literal(&n.host)));
        RedirectPolicy {
            start_host: start.host_str().map(str::to_ascii_lowercase),
            resolve: resolve.to_vec(),
            named,
            system,
            looked_up: RefCell::default(),
        }
    }

    /// A new attempt: names are looked up again (once each).
    pub fn new_attempt(&self) {
        self.looked_up.borrow_mut().clear();
    }

    /// Vets the host of `next`, a redirect target, and pins what the fetch may connect to in
    /// `pins`. `fixed` are the hosts the probe pinned for the whole check (the start host, to
    /// the address being checked): those stay as they are. `Err` says why the check does not
    /// follow it, as the CA's reason.
    pub fn vet(
        &self,
        next: &Url,
        pins: &Pins,
        fixed: &[String],
        deadline: Deadline,
    ) -> Result<(), String> {
        let name = match next.host() {
            None => return Ok(()),
            Some(url::Host::Ipv4(ip)) => return self.vet_literal(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.vet_literal(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
        };
        if fixed.contains(&name) {
            return Ok(());
        }
        if let Some(addrs) = ResolveRule::lookup(&self.resolve, &name) {
            // Named by the user: allowed, reserved or not.
            pins.set(&name, Ok(addrs));
            return Ok(());
        }
        let looked_up = self
            .looked_up
            .borrow_mut()
            .entry(name.clone())
            .or_insert_with(|| (self.system)(&name, deadline.cap(LOOKUP_TIMEOUT)))
            .clone();
        if let Ok(addrs) = &looked_up
            && self.start_host.as_ref() != Some(&name)
            && let Some((ip, range)) = first_reserved(addrs)
        {
            let which = if addrs.len() == 1 {
                format!("{name} resolves to {ip}, {range}, {REFUSES}")
            } else {
                let all: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!(
                    "{name} resolves to {}, and {ip} is {range}, {REFUSES} (the self-check \
                     follows no redirect to a name with any such address)",
                    all.join(", ")
                )
            };
            return Err(format!("{which}: redirect to a public name of the site"));
        }
        pins.set(&name, looked_up);
        Ok(())
    }

    fn vet_literal(&self, ip: IpAddr) -> Result<(), String> {
        match reserved_range(ip) {
            Some(range) if !self.named.contains(&ip) => Err(format!(
                "{ip} is {range}, {REFUSES}: redirect to a public name of the site"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    pub(crate) fn rules(list: &[&str]) -> Vec<ResolveRule> {
        list.iter()
            .map(|r| ResolveRule::parse(r).unwrap())
            .collect()
    }

    /// A stand-in for DNS: `name` answers the next list of `answers` at each lookup (the last
    /// one again when they run out); every lookup is counted.
    fn dns(
        answers: &[(&str, &[&[&str]])],
    ) -> (Box<SystemLookup>, std::rc::Rc<std::cell::Cell<usize>>) {
        let count = std::rc::Rc::new(std::cell::Cell::new(0));
        let seen = std::rc::Rc::clone(&count);
        let answers: HashMap<String, Vec<Vec<IpAddr>>> = answers
            .iter()
            .map(|(name, lists)| {
                let lists = lists
                    .iter()
                    .map(|l| l.iter().map(|a| a.parse().unwrap()).collect())
                    .collect();
                (name.to_string(), lists)
            })
            .collect();
        let asked: RefCell<HashMap<String, usize>> = RefCell::default();
        let lookup = move |name: &str, _: Duration| {
            seen.set(seen.get() + 1);
            let lists = answers.get(name).ok_or("Name or service not known")?;
            let mut asked = asked.borrow_mut();
            let n = asked.entry(name.to_string()).or_default();
            let list = lists[(*n).min(lists.len() - 1)].clone();
            *n += 1;
            Ok(list)
        };
        (Box::new(lookup), count)
    }

    fn deadline() -> Deadline {
        Deadline::new(Duration::from_secs(5))
    }

    #[test]
    fn a_public_start_may_not_be_redirected_to_a_private_address() {
        let (lookup, _) = dns(&[("internal.example.com", &[&["10.0.0.5"]])]);
        let policy = RedirectPolicy::with_lookup(
            &url("http://www.example.com/.well-known/acme-challenge/t"),
            &rules(&["www.example.com:93.184.215.14"]),
            &[],
            lookup,
        );
        let pins = Pins::default();
        let vet = |target: &str| policy.vet(&url(target), &pins, &[], deadline());
        assert_eq!(
            vet("http://10.1.2.3/x").unwrap_err(),
            "10.1.2.3 is a private address (RFC 1918), and Let's Encrypt refuses to connect to \
             private, loopback, link-local and other reserved addresses: redirect to a public \
             name of the site"
        );
        let text = vet("https://internal.example.com/x").unwrap_err();
        assert!(
            text.starts_with("internal.example.com resolves to 10.0.0.5, a private address"),
            "{text}"
        );
        let text = vet("http://[fe80::1]/x").unwrap_err();
        assert!(
            text.starts_with("fe80::1 is a link-local address"),
            "{text}"
        );
        let text = vet("http://127.0.0.1:80/x").unwrap_err();
        assert!(
            text.starts_with("127.0.0.1 is a loopback address"),
            "{text}"
        );
        assert_eq!(pins.get("internal.example.com"), None, "nothing pinned");
        // Public targets, and the same host (https), are followed.
        assert_eq!(vet("http://93.184.215.15/x"), Ok(()));
        assert_eq!(vet("https://www.example.com/x"), Ok(()));
    }

    #[test]
    fn a_name_with_one_reserved_address_among_public_ones_is_refused_naming_it() {
        let (lookup, _) = dns(&[(
            "mixed.example.com",
            &[&["93.184.215.14", "127.0.0.9", "2606:4700::1"]],
        )]);
        let policy = RedirectPolicy::with_lookup(
            &url("http://www.example.com/x"),
            &rules(&["www.example.com:93.184.215.14"]),
            &[],
            lookup,
        );
        let pins = Pins::default();
        let text = policy
            .vet(&url("http://mixed.example.com/x"), &pins, &[], deadline())
            .unwrap_err();
        assert_eq!(
            text,
            "mixed.example.com resolves to 93.184.215.14, 127.0.0.9, 2606:4700::1, and 127.0.0.9 \
             is a loopback address, and Let's Encrypt refuses to connect to private, loopback, \
             link-local and other reserved addresses (the self-check follows no redirect to a \
             name with any such address): redirect to a public name of the site"
        );
        assert_eq!(pins.get("mixed.example.com"), None);
    }

    #[test]
    fn only_addresses_the_user_named_may_be_reserved_whatever_the_start() {
        // A start on loopback no longer opens every redirect: DNS answers are vetted.
        let (lookup, _) = dns(&[("localhost", &[&["127.0.0.1", "::1"]])]);
        let policy = RedirectPolicy::with_lookup(
            &url("http://site.test:5002/x"),
            &rules(&["site.test:127.0.0.1", "www.site.test:127.0.0.2"]),
            &[Node::parse("10.0.0.11:8000").unwrap()],
            lookup,
        );
        let pins = Pins::default();
        let vet = |target: &str| policy.vet(&url(target), &pins, &[], deadline());
        let text = vet("http://localhost:5002/x").unwrap_err();
        assert!(
            text.starts_with("localhost resolves to 127.0.0.1, ::1, and 127.0.0.1 is a loopback"),
            "{text}"
        );
        assert!(vet("http://127.0.0.3:5002/x").is_err());
        assert!(vet("http://[fd00::1]/x").is_err());
        // Named: a --resolve rule's name, its addresses as literals, a literal node.
        assert_eq!(vet("http://www.site.test:5002/x"), Ok(()));
        assert_eq!(
            pins.get("www.site.test"),
            Some(Ok(vec!["127.0.0.2".parse().unwrap()]))
        );
        assert_eq!(vet("http://127.0.0.1:5002/x"), Ok(()));
        assert_eq!(vet("http://127.0.0.2/x"), Ok(()));
        assert_eq!(vet("http://10.0.0.11/x"), Ok(()));
        // And a literal start URL's own address.
        let (lookup, _) = dns(&[]);
        let policy = RedirectPolicy::with_lookup(&url("http://[::1]:5002/x"), &[], &[], lookup);
        assert_eq!(
            policy.vet(&url("http://[::1]:5002/y"), &pins, &[], deadline()),
            Ok(())
        );
    }

    #[test]
    fn a_name_is_looked_up_once_per_attempt_and_pinned_to_that_answer() {
        // A rebinding name: public at the first lookup, loopback at every later one.
        let (lookup, count) = dns(&[("rebind.example.com", &[&["93.184.215.14"], &["127.0.0.1"]])]);
        let policy = RedirectPolicy::with_lookup(
            &url("http://www.example.com/x"),
            &rules(&["www.example.com:93.184.215.15"]),
            &[],
            lookup,
        );
        let pins = Pins::default();
        let target = url("http://rebind.example.com/x");
        for _ in 0..3 {
            assert_eq!(policy.vet(&target, &pins, &[], deadline()), Ok(()));
        }
        assert_eq!(count.get(), 1, "one lookup in the attempt");
        assert_eq!(
            pins.get("rebind.example.com"),
            Some(Ok(vec!["93.184.215.14".parse().unwrap()])),
            "the client connects to what was vetted"
        );
        policy.new_attempt();
        pins.retain(&[]);
        assert!(policy.vet(&target, &pins, &[], deadline()).is_err());
        assert_eq!(count.get(), 2);
        assert_eq!(pins.get("rebind.example.com"), None);
    }

    #[test]
    fn the_start_host_keeps_its_pin_and_an_unresolved_name_is_pinned_to_its_error() {
        let (lookup, count) = dns(&[("www.example.com", &[&["10.0.0.5"]])]);
        let policy =
            RedirectPolicy::with_lookup(&url("http://www.example.com/x"), &[], &[], lookup);
        let pins = Pins::default();
        let fixed = ["www.example.com".to_string()];
        pins.set("www.example.com", Ok(vec!["10.0.0.5".parse().unwrap()]));
        let https = url("https://www.example.com/x");
        assert_eq!(policy.vet(&https, &pins, &fixed, deadline()), Ok(()));
        assert_eq!(count.get(), 0, "the probe's own address, no lookup");
        // A node's check: the start host is not fixed, and a split-horizon address is fine.
        assert_eq!(policy.vet(&https, &pins, &[], deadline()), Ok(()));
        assert_eq!(count.get(), 1);
        assert_eq!(
            policy.vet(&url("http://nowhere.example.com/"), &pins, &[], deadline()),
            Ok(())
        );
        assert_eq!(
            pins.get("nowhere.example.com"),
            Some(Err("Name or service not known".to_string()))
        );
    }

    #[test]
    fn redirects_the_ca_refuses_are_refused_with_its_reason() {
        let own = Some(5002);
        for status in REDIRECT_STATUSES {
            assert_eq!(
                redirect_refusal(status, &url("https://example.com/x"), own),
                None
            );
        }
        assert_eq!(
            redirect_refusal(302, &url("http://example.com:5002/x"), own),
            None,
            "the starting URL's own port"
        );
        let text = redirect_refusal(302, &url("http://example.com:8080/x"), own).unwrap();
        assert_eq!(
            text,
            "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080 \
             (the CA's words)"
        );
        let text = redirect_refusal(301, &url("ftp://example.com/x"), own).unwrap();
        assert!(
            text.starts_with("Invalid protocol scheme in redirect target."),
            "{text}"
        );
        for status in [300, 303, 305] {
            let text = redirect_refusal(status, &url("http://example.com/x"), own).unwrap();
            assert!(
                text.starts_with("the CA follows only 301, 302, 307 and 308 redirects"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_body_is_judged_as_the_ca_does_first_128_bytes_trailing_whitespace_trimmed() {
        let v = "tok.thumb";
        for served in [
            "tok.thumb",
            "tok.thumb\n",
            "tok.thumb  \r\n\t ",
            "tok.thumb\n\n",
        ] {
            assert!(body_matches(served.as_bytes(), v), "{served:?}");
        }
        for not in [
            " tok.thumb",
            "tok.thumbX",
            "tok.thum",
            "",
            "tok.thumb\nmore",
        ] {
            assert!(!body_matches(not.as_bytes(), v), "{not:?}");
        }
        // Only 128 bytes are read: a validation followed by anything beyond is judged on those.
        let long = format!("{v}{}", " ".repeat(200));
        assert!(body_matches(long.as_bytes(), v));
        let v127 = "a".repeat(127);
        // The CA never sees what comes after byte 128, so neither does the check.
        assert!(body_matches(format!("{v127} trailing").as_bytes(), &v127));
        assert!(!body_matches(format!("{v127}x").as_bytes(), &v127));
    }
}
