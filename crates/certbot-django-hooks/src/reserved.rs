//! Which addresses are not the public internet: loopback (a plain-http API on this machine
//! needs no warning) and the special-purpose ranges Let's Encrypt refuses to connect to (a
//! redirect there fails the validation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::resolve::ResolveRule;

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

/// The first reserved address among `addrs`, with its range: the self-check follows no redirect
/// to a name with any such address. (Boulder drops reserved addresses from a lookup and fails
/// only when none is left; the check is stricter, because it connects from inside: an address
/// it skipped could still be the one a client library picks.)
pub fn first_reserved(addrs: &[IpAddr]) -> Option<(IpAddr, &'static str)> {
    addrs
        .iter()
        .find_map(|ip| reserved_range(*ip).map(|range| (*ip, range)))
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
    fn one_reserved_address_among_public_ones_is_found() {
        let ips =
            |list: &[&str]| -> Vec<IpAddr> { list.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(
            first_reserved(&ips(&["93.184.215.14", "10.0.0.5", "fd00::5"])),
            Some(("10.0.0.5".parse().unwrap(), "a private address (RFC 1918)"))
        );
        assert_eq!(first_reserved(&ips(&["93.184.215.14", "8.8.8.8"])), None);
        assert_eq!(first_reserved(&[]), None);
    }
}
