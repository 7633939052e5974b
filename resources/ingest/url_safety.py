"""Refuse URLs that would make the pipeline fetch from inside the operator's network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from resources.errors import InputRejected, RetryableError

ALLOWED_SCHEMES = frozenset({"http", "https"})


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses; False for loopback, private, link-local, etc."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_remote_url(url: str, *, allow_private_networks: bool = False) -> str:
    """Validate a remote video URL: http(s), a host, and (unless allowed) only public addresses.

    Returns the URL unchanged. Raises InputRejected for an unusable URL, RetryableError when DNS fails
    (the host may come back).
    """
    parsed = urlparse(url)
    if parsed.scheme.lower() not in ALLOWED_SCHEMES:
        raise InputRejected(
            f"unsupported URL scheme {parsed.scheme!r} in {url!r}: give an http(s) video URL or a local file path"
        )
    if not parsed.hostname:
        raise InputRejected(f"URL {url!r} has no host: give a full video URL such as https://www.tiktok.com/...")
    if parsed.username or parsed.password:
        raise InputRejected("URLs with embedded credentials are refused: remove 'user:password@' from the URL")
    if allow_private_networks:
        return url
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RetryableError(f"cannot resolve host {parsed.hostname!r} ({exc}); check the URL or the network") from exc
    for info in infos:
        address = str(info[4][0])
        if not is_public_address(address):
            raise InputRejected(
                f"URL host {parsed.hostname!r} resolves to the non-public address {address}: refused to "
                "protect the internal network (set allow_private_networks on the downloader for a trusted "
                "local source)"
            )
    return url
