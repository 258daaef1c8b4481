"""Host and port as they are written in addresses and URLs."""

from __future__ import annotations


def bracketed(host: str) -> str:
    """A host as it goes before `:port` in an address or URL: an IPv6 literal in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def address(host: str, port: int) -> str:
    """`host:port`, an IPv6 host bracketed (`[::1]:4317`)."""
    return f"{bracketed(host)}:{port}"


__all__ = ["address", "bracketed"]
