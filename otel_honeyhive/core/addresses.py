"""Host and port as they are written in addresses and URLs."""

from __future__ import annotations

import ipaddress
import re

_HOST_HEADER = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]]*))(?::(?P<port>\d{1,5}))?$")


def bracketed(host: str) -> str:
    """A host as it goes before `:port` in an address or URL: an IPv6 literal in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def address(host: str, port: int) -> str:
    """`host:port`, an IPv6 host bracketed (`[::1]:4317`)."""
    return f"{bracketed(host)}:{port}"


def host_name(header: str) -> str | None:
    """The name in an HTTP `Host` header (`name`, `name:port`, `[v6]:port`), lowercased and without a final dot
    (`localhost.` is `localhost`), an address in its normal form; None when the header names no host."""
    found = _HOST_HEADER.match(header.strip().lower())
    if found is None:
        return None
    name = found.group("v6") or found.group("name") or ""
    name = name[:-1] if name.endswith(".") else name
    literal = ip_address(name)
    if found.group("v6") is not None and literal is None:
        return None
    return str(literal) if literal is not None else name or None


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an address (an IPv4-mapped IPv6 one as the IPv4 address it maps), or None."""
    try:
        found = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def is_loopback(name: str) -> bool:
    """`localhost`, a name under `.localhost` (RFC 6761 reserves them for this machine), or a loopback address
    (127.0.0.0/8, ::1)."""
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    found = ip_address(name)
    return found is not None and found.is_loopback


__all__ = ["address", "bracketed", "host_name", "ip_address", "is_loopback"]
