"""Sizes as people read them (and as the flags take them: `64MiB`), the same in `--help` and in the errors a
limit causes."""

from __future__ import annotations


def shown_size(size: int) -> str:
    """`64 MiB`, `512 KiB`, `1 GiB` when whole in a unit, else `1,000 bytes`."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} bytes"


__all__ = ["shown_size"]
