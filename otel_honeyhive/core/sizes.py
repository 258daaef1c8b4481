"""Sizes as people read them (and as the flags take them: `64MiB`), the same in `--help` and in the errors a
limit causes."""

from __future__ import annotations


def shown_size(size: int) -> str:
    """`64 MiB`, `512 KiB`, `1 GiB` when whole in a unit, else `1,000 bytes`."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} bytes"


def utf8_size(text: str) -> int:
    """How many bytes `text` takes in UTF-8: what a cut to fit a byte budget must count, not characters (an `é`
    is two bytes, a `日` three)."""
    return len(text.encode("utf-8", "surrogatepass"))


def utf8_prefix(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that takes at most `max_bytes` bytes in UTF-8 (never half a character)."""
    return text.encode("utf-8", "surrogatepass")[: max(0, max_bytes)].decode("utf-8", "ignore")


def cut_text(text: str, max_bytes: int) -> str:
    """`text` cut to its first `max_bytes` bytes of UTF-8, marked `…[truncated N chars]` (N: the characters cut),
    as both outputs cut a value too large for a request."""
    kept = utf8_prefix(text, max_bytes)
    return f"{kept}…[truncated {len(text) - len(kept)} chars]"


__all__ = ["cut_text", "shown_size", "utf8_prefix", "utf8_size"]
