"""Refuse URLs and addresses that would make the pipeline fetch from inside the operator's network (SSRF).

One definition of "may connect to": `address_refusal` classifies an address, `AddressPolicy` resolves a host once
and checks every answer. `check_remote_url` uses it for a submitted URL; the download's egress guard
(`egress_guard.py`) uses it for every connection yt-dlp opens.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from resources.errors import InputRejected, RetryableError

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Instance metadata services hand out cloud credentials: refused even when private networks are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], Sequence[str]]
"""`(host, port) -> addresses`, as `getaddrinfo` answers; raises OSError when the name does not resolve."""


class AddressRefused(InputRejected):
    """A host resolved to an address the policy refuses."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(f"{host} resolves to the non-public address {address} ({kind})")
        self.host, self.address, self.kind = host, address, kind


class HostUnresolved(RetryableError):
    """DNS gave no answer; the host may come back."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"cannot resolve host {host!r} ({detail}); check the URL or the network")
        self.host = host


def _unwrap(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 reaches 127.0.0.1
            return ip.ipv4_mapped
        if ip in _NAT64:  # 64:ff9b::7f00:1 reaches 127.0.0.1 through a NAT64 gateway
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_kind(address: str) -> str:
    """What kind of address this is: "public", or why it is not (loopback, private, link-local, ...)."""
    ip = _unwrap(address)
    checks = (
        (ip in METADATA_ADDRESSES, "cloud metadata"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_multicast, "multicast"),
        (ip in _CGNAT, "carrier-grade NAT"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((kind for matched, kind in checks if matched), "public")


def address_refusal(address: str, *, allow_private_networks: bool = False) -> str | None:
    """None when a fetch may connect to `address`; else the kind of address that is refused."""
    kind = address_kind(address)
    if kind == "public" or (allow_private_networks and kind not in {"cloud metadata", "multicast"}):
        return None
    return kind


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses; False for loopback, private, link-local, etc."""
    return address_refusal(address) is None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives for `host` (TCP), in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a fetch may connect to, and how host names are resolved."""

    allow_private_networks: bool = False
    resolver: Resolver = system_resolver
    # Exact (address, port) endpoints allowed although not public. Tests let one local server stand in for a
    # public host this way; every other endpoint meets the same checks as in production.
    allowed_endpoints: frozenset[tuple[str, int]] = frozenset()

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve `host` once and return its addresses; refuse if ANY of them is refused.

        Connect only to the addresses returned: resolving again could give another answer (DNS rebinding).
        """
        try:
            addresses = list(self.resolver(host.strip("[]"), port))
        except (OSError, UnicodeError) as exc:
            raise HostUnresolved(host, str(exc)) from exc
        if not addresses:
            raise HostUnresolved(host, "no address")
        for address in addresses:
            if (address, port) in self.allowed_endpoints:
                continue
            try:
                kind = address_refusal(address, allow_private_networks=self.allow_private_networks)
            except ValueError:
                kind = "not an IP address"
            if kind is not None:
                raise AddressRefused(host, address, kind)
        return addresses


def check_url_form(url: str) -> SplitResult:
    """The parse checks, without DNS: http(s), a host, a valid port, no embedded credentials."""
    parsed = urlsplit(url)
    if parsed.scheme.lower() not in ALLOWED_SCHEMES:
        raise InputRejected(
            f"unsupported URL scheme {parsed.scheme!r} in {url!r}: give an http(s) video URL or a local file path"
        )
    if not parsed.hostname:
        raise InputRejected(f"URL {url!r} has no host: give a full video URL such as https://www.tiktok.com/...")
    if parsed.username or parsed.password:
        raise InputRejected("URLs with embedded credentials are refused: remove 'user:password@' from the URL")
    try:
        parsed.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise InputRejected(f"URL {url!r} has an invalid port ({exc}); give a port number from 1 to 65535") from exc
    return parsed


def default_port(parsed: SplitResult) -> int:
    return parsed.port or (443 if parsed.scheme.lower() == "https" else 80)


def check_remote_url(url: str, *, allow_private_networks: bool = False, policy: AddressPolicy | None = None) -> str:
    """Validate a remote video URL: http(s), a host, and (unless allowed) only public addresses.

    Returns the URL unchanged. Raises InputRejected for an unusable URL, RetryableError when DNS fails
    (the host may come back). This checks the URL once; a download must also go through the egress guard,
    which checks every connection it opens.
    """
    parsed = check_url_form(url)
    if allow_private_networks and policy is None:
        return url
    policy = policy or AddressPolicy()
    try:
        policy.checked_addresses(parsed.hostname or "", default_port(parsed))
    except AddressRefused as exc:
        raise InputRejected(
            f"URL host {exc.host!r} resolves to the non-public address {exc.address} ({exc.kind}): refused to "
            "protect the internal network (set allow_private_networks on the downloader for a trusted local source)"
        ) from exc
    return url
