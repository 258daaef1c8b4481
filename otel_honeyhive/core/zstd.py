"""Bounded zstd decoding, for request bodies (inputs/http_common.py) and files (inputs/files/readers.py).

The module is the standard library's `compression.zstd` from Python 3.14, and its backport (`backports.zstd`, in
the server extra) before it; it is imported when zstd data is met, so the package imports without it. Whatever the
frames declare, a `BoundedZstd` gives at most `limit + 1` bytes (the caller refuses what passes `limit`) and
allocates no window over `window_limit`, so a zstd bomb costs no more memory than the limit.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, cast

MAGIC = b"\x28\xb5\x2f\xfd"
"""What every zstd frame starts with (RFC 8878, section 3.1.1)."""

MISSING = ("reading zstd needs the zstd module: install the server extra (pip install 'otel-honeyhive[server]', "
           "which brings backports.zstd) or use Python 3.14+")


class ZstdDataError(ValueError):
    """zstd data that cannot be decoded: corrupt, cut short, asking for too large a window (`window` and
    `window_limit` then say how large), or no zstd module (`MISSING`)."""

    def __init__(self, message: str, *, window: int | None = None, window_limit: int | None = None) -> None:
        super().__init__(message)
        self.window = window
        self.window_limit = window_limit


def zstd_module() -> ModuleType | None:
    """`compression.zstd`, else `backports.zstd`, else None."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from backports import zstd  # type: ignore[no-redef,unused-ignore]
        except ImportError:
            return None
    return cast(ModuleType, zstd)


def declared_window(header: bytes) -> int | None:
    """The window a zstd frame declares in its header (RFC 8878, section 3.1.1.1), if it declares one."""
    if len(header) < 6 or header[:4] != MAGIC or header[4] & 0x20:  # single segment: no window descriptor
        return None
    exponent, mantissa = header[5] >> 3, header[5] & 7
    base = 1 << (10 + exponent)
    return base + (base >> 3) * mantissa


_HEADER_BYTES = 6
DEFAULT_WINDOW_LIMIT = 1 << 27
"""zstd's own limit for decoders (128 MiB): the largest window a frame may ask for unless told otherwise."""


class BoundedZstd:
    """zstd frames, one or several concatenated (as zstd(1) reads them), decoded as they come in pieces, to at
    most `limit + 1` bytes in all. `window_limit`: the largest window a frame may ask for (a power of two; None:
    zstd's own default, 128 MiB). ZstdDataError when the module is missing or the data cannot be decoded."""

    def __init__(self, limit: int, *, window_limit: int | None = None) -> None:
        module = zstd_module()
        if module is None:
            raise ZstdDataError(MISSING)
        self._zstd = module
        self._limit = limit
        self._window_limit = window_limit
        self.produced = 0
        self._decoder = self._new()
        self._header = b""
        """The current frame's first bytes, kept to say why it was refused."""

    def _new(self) -> Any:
        """A decompressor of the module (typed `Any`: the module is found at run time)."""
        if self._window_limit is None:
            return self._zstd.ZstdDecompressor()
        log = self._window_limit.bit_length() - 1
        return self._zstd.ZstdDecompressor(options={self._zstd.DecompressionParameter.window_log_max: log})

    def feed(self, data: bytes) -> bytes:
        """What `data` decodes to, stopping once more than `limit` bytes have come out in all."""
        out: list[bytes] = []
        decoder = self._decoder
        while True:
            if decoder.eof:  # another frame follows
                data = decoder.unused_data + data
                if not data:
                    break
                decoder = self._decoder = self._new()
                self._header = b""
            elif not data and decoder.needs_input:
                break
            if len(self._header) < _HEADER_BYTES:
                self._header += data[:_HEADER_BYTES - len(self._header)]
            try:
                piece = decoder.decompress(data, self._limit + 1 - self.produced)
            except self._zstd.ZstdError as exc:
                raise self._refusal(exc) from None
            data = b""
            self.produced += len(piece)
            out.append(piece)
            if self.produced > self._limit:
                break  # the caller refuses the data
        return b"".join(out)

    def finish(self) -> None:
        """ZstdDataError unless the last frame was whole."""
        if not self._decoder.eof:
            raise ZstdDataError("zstd frame cut short")

    def _refusal(self, exc: Exception) -> ZstdDataError:
        window = declared_window(self._header)
        allowed = self._window_limit if self._window_limit is not None else DEFAULT_WINDOW_LIMIT
        if window is not None and window > allowed:
            return ZstdDataError(f"zstd frame needs a {window >> 20} MiB window, more than {allowed >> 20} MiB",
                                 window=window, window_limit=allowed)
        return ZstdDataError(f"not a readable zstd frame ({exc})")


def decode_all(data: bytes, limit: int, what: str) -> bytes:
    """`data`, whole zstd frames, decoded; ZstdDataError when it cannot be, or when it makes more than `limit`
    bytes (more than `what`, "an entry" say, may hold)."""
    decoder = BoundedZstd(limit)
    out = decoder.feed(data)
    if decoder.produced > limit:
        raise ZstdDataError(f"decompresses to more than {limit >> 20} MiB, more than {what} may hold")
    decoder.finish()
    return out


__all__ = ["DEFAULT_WINDOW_LIMIT", "MAGIC", "MISSING", "BoundedZstd", "ZstdDataError", "declared_window",
           "decode_all", "zstd_module"]
