"""Request bodies in every Content-Encoding the server reads, as they stream in: whole, within the limit, or
refused with a reason."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.inputs.http_common import DECODERS, BodyError
from tests.support.compression import MIB, zstd, zstd_bomb, zstd_with_window

ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "zlib": zlib.compress,
    "zstd": zstd.compress,
}


def decode(encoding: str, chunks: list[bytes], limit: int = MIB) -> bytes:
    decoder = DECODERS[encoding](limit)
    out = b"".join(decoder.feed(chunk) for chunk in chunks)
    decoder.finish()
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_every_encoding_the_collector_sends_has_a_decoder() -> None:
    assert set(DECODERS) == set(ENCODERS)


@given(encoding=st.sampled_from(sorted(ENCODERS)), parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
       cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_a_body_decodes_whole_however_the_network_cuts_it(encoding: str, parts: list[bytes], cuts: list[int]) -> None:
    """Several gzip members or zstd frames, one after the other, are one body (as gzip(1) and zstd(1) read them)."""
    concatenates = encoding in ("gzip", "x-gzip", "zstd")
    body = b"".join(ENCODERS[encoding](p) for p in parts) if concatenates else ENCODERS[encoding](b"".join(parts))
    assert decode(encoding, split(body, cuts)) == b"".join(parts)


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_a_decoder_stops_one_byte_past_the_limit_however_much_the_input_would_make(encoding: str) -> None:
    decoder = DECODERS[encoding](1000)
    assert len(decoder.feed(ENCODERS[encoding](bytes(10 * MIB)))) == 1001


def test_a_zstd_bomb_stops_at_the_limit_from_a_few_kib_of_input() -> None:
    bomb = zstd_bomb(256 * MIB)
    assert len(bomb) < 64 * 1024
    assert len(DECODERS["zstd"](MIB).feed(bomb)) == MIB + 1


@pytest.mark.parametrize(("window_log", "limit", "refused"), [
    (23, MIB, False),  # 8 MiB: what streaming encoders declare whatever the body's size
    (24, MIB, True),
    (26, 64 * MIB, False),  # up to the body limit
    (27, 64 * MIB, True),  # not twice it
    (25, 16 * MIB + 1, False),  # a limit between two powers of two: the next one up
    (28, 2**30, True),  # never more than zstd's own default, 128 MiB
])
def test_a_zstd_frame_may_declare_a_window_up_to_the_body_limit(window_log: int, limit: int, refused: bool) -> None:
    body = zstd_with_window(b"hello " * 100, window_log)
    if not refused:
        assert decode("zstd", [body], limit) == b"hello " * 100
        return
    with pytest.raises(BodyError) as refusal:
        decode("zstd", [body[:3], body[3:]], limit)
    assert refusal.value.status == 400
    assert refusal.value.message.startswith(f"zstd frame needs a {2 ** (window_log - 20)} MiB window")


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_truncated_or_foreign_bodies_are_400_naming_why(encoding: str) -> None:
    with pytest.raises(BodyError, match="truncated stream") as truncated:
        decode(encoding, [ENCODERS[encoding](b"x" * 500)[:-5]])
    assert truncated.value.status == 400
    with pytest.raises(BodyError, match="not valid compressed data") as foreign:
        decode(encoding, [b"\x28\xb5\x2f\xfd not really" if encoding == "zstd" else b"\x1f\x8b not really"])
    assert foreign.value.status == 400
