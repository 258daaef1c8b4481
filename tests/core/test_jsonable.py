"""Anything becomes JSON we can write: `dumps` never fails a batch for one value. JSON an attribute carried as
text parses into up to 1,024 levels while orjson writes at most 255 (and Python's recursion stops near 1,000):
parts nested deeper than `MAX_NESTING` are written as their own JSON text, so nothing is lost."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.jsonable import MAX_NESTING, dumps, json_text, jsonable, loads


def nested(levels: int, leaf: Any = "deep") -> Any:
    """`levels` containers, lists and objects in turn, around `leaf`."""
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def depth(value: Any) -> int:
    """How many containers nest in `value` (iteratively: the values here can be deeper than Python recurses)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
            deepest = max(deepest, level + 1)
    return deepest


def unfolded(value: Any) -> Any:
    """`value` with every string `jsonable` made of a deep part parsed again (iteratively): what a reader
    recovers."""
    def parsed(item: Any) -> Any:
        if isinstance(item, str) and item[:1] in "[{":
            return orjson.loads(item)
        return item

    root = [parsed(value)]
    stack: list[Any] = [root]
    while stack:
        container = stack.pop()
        keys = list(container) if isinstance(container, dict) else range(len(container))
        for key in keys:
            container[key] = parsed(container[key])
            if isinstance(container[key], dict | list):
                stack.append(container[key])
    return root[0]


def test_values_json_cannot_hold_as_they_are_are_made_representable() -> None:
    assert orjson.loads(dumps({"big": 2**70, "raw": b"\xff"})) == {"big": str(2**70), "raw": "base64:/w=="}


def test_what_orjson_writes_is_written_by_orjson_unchanged() -> None:
    value = nested(200)
    assert dumps(value) == orjson.dumps(value)


def test_json_nested_as_deep_as_a_parser_accepts_is_written_and_nothing_is_lost() -> None:
    text = '{"q":' * 512 + '["a \\"quoted\\" word"]' + "}" * 512  # 1,024 levels: orjson's parsing limit
    value = orjson.loads(text)
    body = dumps({"inputs": {"value": value}})
    written = orjson.loads(body)
    assert depth(written) <= MAX_NESTING
    assert unfolded(written) == {"inputs": {"value": value}}
    assert len(body) < 2 * len(text)  # the deep part is written once as text, its quotes escaped once


@given(st.integers(0, 3 * MAX_NESTING))
def test_jsonable_bounds_every_container_and_keeps_everything(levels: int) -> None:
    value = nested(levels, leaf=b"\xff")
    made = jsonable(value)
    assert depth(made) <= MAX_NESTING
    assert unfolded(made) == orjson.loads(json_text(value)) == unfolded(nested(levels, leaf="base64:/w=="))


def nested_text(levels: int) -> str:
    """`nested(levels)` as compact JSON, built as text."""
    text = '"deep"'
    for i in range(levels):
        text = f"[{text}]" if i % 2 else f'{{"k":{text}}}'
    return text


def test_jsonable_takes_structures_deeper_than_python_recurses() -> None:
    levels = sys.getrecursionlimit() + 500
    made = jsonable(nested(levels))
    assert depth(made) == MAX_NESTING
    for _ in range(MAX_NESTING):
        made = made["k"] if isinstance(made, dict) else made[0]
    assert made == nested_text(levels - MAX_NESTING)


@given(st.recursive(st.one_of(st.text(max_size=5), st.integers(-(2**63), 2**64 - 1), st.booleans(), st.none(),
                              st.floats(allow_nan=False, allow_infinity=False)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                max_size=3)))
def test_json_text_is_what_orjson_writes(value: Any) -> None:
    assert json_text(value) == orjson.dumps(value).decode()


def test_integers_beyond_64_bits_are_read_as_their_decimal_strings_and_the_rest_as_orjson_reads_it() -> None:
    text = ('{"big": 123456789012345678901234, "low": -9223372036854775809, "u64": 18446744073709551615, '
            '"i64": -9223372036854775808, "id": "1234567890123456789012", "f": 1.5e300, "n": [1, 2]}')
    assert loads(text) == {"big": "123456789012345678901234", "low": "-9223372036854775809",
                           "u64": 18446744073709551615, "i64": -9223372036854775808,
                           "id": "1234567890123456789012", "f": 1.5e300, "n": [1, 2]}
    assert loads(b'{"a": 1}') == orjson.loads(b'{"a": 1}')
    with pytest.raises(orjson.JSONDecodeError):
        loads(b'{"a": 12345678901234567890123')  # not JSON: orjson's error, whatever the digits


def test_a_lone_surrogate_is_written_as_its_escape_and_fails_nothing_beside_it() -> None:
    """Bytes decoded with `surrogateescape` (file names, environment values) give text UTF-8 cannot hold."""
    written = orjson.loads(dumps({"path": "file-\udcff.txt", "\udc80key": ["ok", "\ud800"], "n": 1}))
    assert written == {"path": "file-\\udcff.txt", "\\udc80key": ["ok", "\\ud800"], "n": 1}


def test_a_lone_surrogate_below_the_nesting_limit_is_escaped_too() -> None:
    written = dumps(nested(MAX_NESTING + 20, leaf="bad \udcff"))  # the deep part becomes JSON text
    assert b"bad " + b"\\" * 4 + b"udcff" in written  # escaped in that text, which is escaped as a string
