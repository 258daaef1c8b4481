"""Bounded zstd decoding: whole frames back, never more than the limit, and a reason for what cannot be read."""

from __future__ import annotations

import pytest

from otel_honeyhive.core.zstd import BoundedZstd, ZstdDataError, declared_window, decode_all
from tests.support.compression import MIB, zstd, zstd_bomb, zstd_with_window


@pytest.mark.parametrize("window_log", [10, 17, 23, 27, 30])
def test_the_window_a_streamed_frame_declares_is_read_from_its_header(window_log: int) -> None:
    assert declared_window(zstd_with_window(b"x" * 100, window_log)) == 1 << window_log


def test_a_frame_of_known_size_declares_no_window() -> None:
    assert declared_window(zstd.compress(b"x" * 100)) is None  # single segment: the size bounds the window


def test_concatenated_frames_are_one_body() -> None:
    assert decode_all(zstd.compress(b"a" * 10) + zstd.compress(b"b" * 5), 100, "a body") == b"a" * 10 + b"b" * 5


def test_more_than_the_limit_is_refused_naming_what_overflowed() -> None:
    with pytest.raises(ZstdDataError, match="decompresses to more than 1 MiB, more than an entry may hold"):
        decode_all(zstd_bomb(64 * MIB), MIB, "an entry")


def test_a_cut_frame_is_refused() -> None:
    with pytest.raises(ZstdDataError, match="zstd frame cut short"):
        decode_all(zstd.compress(b"x" * 500)[:-4], MIB, "a body")


def test_a_frame_asking_a_larger_window_than_allowed_says_both_sizes() -> None:
    decoder = BoundedZstd(MIB, window_limit=8 * MIB)
    with pytest.raises(ZstdDataError) as refused:
        decoder.feed(zstd_with_window(b"x" * 100, 30))
    assert (refused.value.window, refused.value.window_limit) == (1 << 30, 8 * MIB)
    assert str(refused.value) == "zstd frame needs a 1024 MiB window, more than 8 MiB"
