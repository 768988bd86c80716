"""What a name is: the one rule for identifiers that the hooks apply too, Host headers, and domain patterns.

``parse_identifier`` mirrors ``Identifier::parse`` in crates/certbot-django-hooks/src/challenge.rs rule for rule and
reason for reason, so that the site never stores a name the hooks would refuse, and the reverse. Two facts shape it:

* Python's ``ipaddress`` accepts IPv6 zone ids (``fe80::1%x``, of any length) and Rust's ``Ipv6Addr`` does not. A zone
  id names an interface of one machine; no CA validates one. So a ``%`` is refused before ``ipaddress`` sees it.
* The hooks build URLs with the WHATWG URL parser, which reads a host whose last label is a number (``1.2.3``,
  ``a.0x7f``) as an IPv4 address, and refuses an ``xn--`` label that is not valid IDNA. The same names are refused here.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

import idna
from django.conf import settings

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

#: Longest hostname in presentation format (RFC 1035 section 2.3.4, without the trailing dot).
MAX_HOSTNAME_LENGTH = 253
_LABEL_RE = re.compile(r"[A-Za-z0-9-]{1,63}\Z")
#: A Host header: a name, or an IPv6 address in brackets, and an optional port (Django's own host pattern).
_HOST_RE = re.compile(r"([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::[0-9]+)?\Z")
#: WHATWG URL's "ends in a number": a last label of digits, or 0x and hex digits, makes the host an IPv4 address.
_NUMERIC_LABEL_RE = re.compile(r"([0-9]+|0[xX][0-9A-Fa-f]*)\Z")


class InvalidName(ValueError):
    """``str()`` is the reason, worded as the hooks word it."""


def parse_identifier(value: str) -> str:
    """The identifier in canonical form (lower case; IP addresses as ``ipaddress`` prints them), or
    :class:`InvalidName`. IPv6 addresses may come bare or in brackets."""
    if value == "":
        raise InvalidName("it is empty")
    if value.startswith("[") and value.endswith("]"):
        address = _ip_address(value[1:-1])
        if not isinstance(address, ipaddress.IPv6Address):
            raise InvalidName("brackets must enclose an IPv6 address")
        return str(address)
    address = _ip_address(value)
    if address is not None:
        return str(address)
    if value.startswith("*."):
        raise InvalidName("wildcard names need the DNS-01 challenge, which HTTP-01 cannot validate")
    if len(value) > MAX_HOSTNAME_LENGTH:
        raise InvalidName(f"a hostname has at most {MAX_HOSTNAME_LENGTH} characters")
    labels = value.split(".")
    for label in labels:
        if label == "":
            raise InvalidName("it has an empty label (two dots in a row, or a leading or trailing dot)")
        if len(label) > 63:
            raise InvalidName("a label has more than 63 characters")
        if not _LABEL_RE.match(label):
            raise InvalidName("a hostname may only contain letters, digits, hyphens and dots")
        if label.startswith("-") or label.endswith("-"):
            raise InvalidName("a label starts or ends with a hyphen")
    name = value.lower()
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        raise InvalidName("its last label is a number, so URLs would read it as an IPv4 address")
    if not all(_is_valid_a_label(label) for label in name.split(".") if label.startswith("xn--")):
        raise InvalidName("an xn-- label is not valid punycode (IDNA)")
    return name


def _ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in value:
        return None  # a zone id: ipaddress would accept it, Rust and the CAs do not
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_valid_a_label(label: str) -> bool:
    """Whether an ``xn--`` label is what UTS #46 (as the WHATWG URL parser applies it) accepts: valid punycode of a
    label that has a non-ASCII character, is in NFC, is left unchanged by the UTS #46 mapping, does not start with a
    combining mark, and passes the joiner and bidi rules."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
        if not decoded or decoded.isascii() or not unicodedata.is_normalized("NFC", decoded):
            return False
        # Python's decoder also reads encodings no encoder makes (a leading '-'); the hooks' parser refuses those.
        if decoded.encode("punycode") != label[4:].encode("ascii"):
            return False
        if unicodedata.category(decoded[0]).startswith("M"):
            return False
        if idna.uts46_remap(decoded, std3_rules=False, transitional=False) != decoded:
            return False
        for position, char in enumerate(decoded):
            if char in "\u200c\u200d" and not idna.valid_contextj(decoded, position):
                return False
        # The bidi rule applies to labels with right-to-left characters only; Python's character database may be
        # older than the idna package's, so it is not asked about the others.
        if any(unicodedata.bidirectional(char) in ("R", "AL", "AN") for char in decoded):
            idna.check_bidi(decoded)
    except (UnicodeError, idna.IDNAError, IndexError, ValueError):
        return False
    return True


def host_name(raw: str) -> str:
    """The name a Host header (or a URL's authority) names: lower case, without port, trailing dot or IPv6 brackets,
    in the canonical form of :func:`parse_identifier`; ``""`` if it is malformed."""
    match = _HOST_RE.match(raw.rpartition("@")[2].lower())
    domain = match[1].removesuffix(".") if match else ""
    if domain.startswith("["):
        address = _ip_address(domain[1:-1])
        return str(address) if isinstance(address, ipaddress.IPv6Address) else ""
    # IPv4 addresses need no canonical form: ipaddress accepts only the dotted decimal one.
    return domain


def request_host_name(meta: dict[str, Any]) -> str:
    """The name a request was sent to, as :func:`host_name` gives it: from ``X-Forwarded-Host`` if the site trusts it
    (``USE_X_FORWARDED_HOST``, as Django's ``get_host`` does), else ``Host``. ``ALLOWED_HOSTS`` is not consulted: the
    name is only compared, never used to build a URL."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        raw = meta["HTTP_X_FORWARDED_HOST"]
    else:
        raw = meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "")
    return host_name(str(raw))


def parse_pattern(pattern: str) -> str:
    """An allow-list or key-scope entry in canonical form: an identifier, or ``*.`` and a name (which matches every
    name below it, at any depth, and not the name itself). Raises :class:`InvalidName`."""
    if pattern.startswith("*."):
        suffix = parse_identifier(pattern[2:])
        if _ip_address(suffix) is not None:
            raise InvalidName("'*.' must be followed by a DNS name, not an IP address")
        return "*." + suffix
    return parse_identifier(pattern)


def normalise_pattern(text: str) -> str:
    """A pattern as an operator typed it (a setting, ``certbot_client --domain``, the admin) in canonical form:
    surrounding space and one trailing dot (the fully qualified form) are forgiven, then :func:`parse_pattern`.
    Raises :class:`InvalidName`."""
    text = text.strip()
    return parse_pattern(text[:-1] if text.endswith(".") and not text.endswith("..") else text)


def is_valid_pattern(pattern: object) -> bool:
    """Whether an allow-list or key-scope entry is a name, an IP address or ``*.`` followed by a name."""
    if not isinstance(pattern, str):
        return False
    try:
        normalise_pattern(pattern.lower())
    except InvalidName:
        return False
    return True


def setting_pattern(pattern: object) -> str:
    """An allow-list entry from the settings as the site compares it: :func:`normalise_pattern`, or, for an entry that
    is not a pattern (system check E006), the entry in lower case, which matches no canonical name."""
    text = str(pattern).strip().lower()
    try:
        return normalise_pattern(text)
    except InvalidName:
        return text.removesuffix(".") if not text.endswith("..") else text


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether the canonical ``name`` is allowed by one of the canonical ``patterns``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]
            if name.endswith(suffix) and len(name) > len(suffix):
                return True
        elif name == pattern:
            return True
    return False


def covers_public_suffix(pattern: str) -> bool:
    """Whether a ``*.suffix`` pattern covers a whole public suffix (``*.com``, ``*.co.uk``, ``*.github.io``): names
    that belong to strangers. The list ships with the ``publicsuffixlist`` package; nothing is fetched."""
    return pattern.startswith("*.") and _public_suffix_list().is_public(pattern[2:])


@cache
def _public_suffix_list() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()
