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
//! (Boulder drops such addresses from every lookup, by the IANA special-purpose registries), so
//! a redirect to a host that has only such addresses fails its validation. The check refuses to
//! follow such a redirect too, naming the address ([`reserved_range`]), unless the URL it started
//! from is itself on such an address: a test or staging site on 127.0.0.1 or a LAN keeps working.
//! The addresses are looked up as the client would connect (IP literal, `--resolve`, DNS), and
//! only for a redirect to another host than the starting URL's, so the usual http-to-https
//! redirect of the same name costs nothing.

use std::cell::OnceCell;
use std::time::Duration;

use reqwest::Url;

use crate::deadline::Deadline;
use crate::reserved::{refused_address, reserved_range};
use crate::resolve::{ResolveRule, addresses_of};

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
