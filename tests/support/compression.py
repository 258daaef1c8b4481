"""Compressed request bodies as OTLP clients and the Collector send them, and hostile ones."""

from __future__ import annotations

import zlib

from otel_honeyhive.core.zstd import zstd_module

_module = zstd_module()
assert _module is not None, "the tests need the zstd module (the server extra)"
zstd = _module

MIB = 1024 * 1024


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped at level 9 (about a thousandth of the size on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join([*(compressor.compress(zeros) for _ in range(size // MIB)), compressor.flush()])


def zstd_bomb(size: int) -> bytes:
    """`size` zero bytes in one zstd frame (a few KiB on the wire), streamed so that the frame does not declare
    its size: the decoder learns it only by producing it."""
    compressor = zstd.ZstdCompressor(level=19)
    zeros = bytes(MIB)
    return b"".join([*(compressor.compress(zeros) for _ in range(size // MIB)), compressor.flush()])


def zstd_with_window(data: bytes, window_log: int) -> bytes:
    """`data` in a zstd frame that declares a window of 2**window_log bytes (a streaming encoder's, the size
    unknown), however small the data."""
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: window_log})
    frame: bytes = compressor.compress(data) + compressor.flush()
    return frame


__all__ = ["gzip_bomb", "zstd", "zstd_bomb", "zstd_with_window"]
