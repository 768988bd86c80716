"""One rule for names on both sides: ``parse_identifier`` accepts and refuses what the hooks' ``Identifier::parse``
(crates/certbot-django-hooks/src/challenge.rs) does; these cases are the Rust tests' own, plus the issue's."""

from __future__ import annotations

import pytest

from acme_challenge.names import InvalidName, covers_public_suffix, host_name, matches, parse_identifier, parse_pattern


@pytest.mark.parametrize(
    "bad",
    [
        "a.com/x?", "u@evil.com", "-a.com", "a-.com", "a.com\r\nHost: evil", "a.com\n", "a..com", ".a.com", "a.com.",
        "*.a.com", "a_b.com", "", "[1.2.3.4]", "ex\u00e4mple.com", ("a" * 63 + ".") * 4 + "com", "a" * 64,
        "fe80::1%x.example.com", "fe80::1%eth0", "fe80::1%" + "z" * 5000, "[fe80::1%25eth0]", "a.com\x00",
    ],
)  # fmt: skip
def test_hostile_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        parse_identifier(bad)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("20", "IPv4"), ("2130706433", "IPv4"), ("0x7f.1", "IPv4"), ("1.2.3", "IPv4"), ("a.123", "IPv4"),
        ("example.0x7f", "IPv4"), ("xn--a", "punycode"), ("www.xn--a.com", "punycode"),
    ],
)  # fmt: skip
def test_names_that_urls_would_read_as_ipv4_or_refuse_are_refused(bad: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        parse_identifier(bad)


@pytest.mark.parametrize("good", ["1.example", "123.example.com", "0x7f.example", "example.a1", "a.0xg"])
def test_names_with_numbers_elsewhere_are_names(good: str) -> None:
    assert parse_identifier(good) == good


#: 253 characters: the longest name.
LONGEST = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("Example.COM", "example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("xn--i-7iq.ws", "xn--i-7iq.ws"),
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:DB8:0::1]", "2001:db8::1"),
        (LONGEST, LONGEST),
    ],
)  # fmt: skip
def test_identifiers_come_out_canonical(given: str, canonical: str) -> None:
    assert parse_identifier(given) == canonical


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Example.COM", "example.com"),
        ("example.com.:8443", "example.com"),
        ("[2001:DB8::1]:80", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[fe80::1%25eth0]", ""),
        ("bad host", ""),
        ("user@example.com", "example.com"),
    ],
)
def test_host_headers_name_their_host(raw: str, name: str) -> None:
    assert host_name(raw) == name


def test_patterns_match_names_below_them_and_exact_names() -> None:
    patterns = [parse_pattern("*.Example.org"), parse_pattern("example.com"), parse_pattern("2001:DB8::1")]
    assert patterns == ["*.example.org", "example.com", "2001:db8::1"]
    assert matches("a.b.example.org", patterns)
    assert matches("2001:db8::1", patterns)
    assert not matches("example.org", patterns)
    assert not matches("badexample.org", patterns)
    assert not matches("www.example.com", patterns)


@pytest.mark.parametrize("bad", ["*", "**.example.com", "*.*.example.com", "ex*.com", "*.192.0.2.1", "*."])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        parse_pattern(bad)


@pytest.mark.parametrize(
    ("pattern", "public"),
    [("*.com", True), ("*.co.uk", True), ("*.github.io", True), ("*.example.com", False), ("com", False)],
)
def test_public_suffixes_come_from_the_shipped_list(pattern: str, public: bool) -> None:
    assert covers_public_suffix(pattern) is public
