"""Any attribute value made representable in JSON: what the mapper puts in events, and the encoder's last resort
for values from elsewhere (the HoneyHive-compatible API)."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

MAX_NESTING = 100
"""How deep containers may nest in what we encode. orjson writes at most 255 levels but reads 1,024 (and
Python's recursion stops near 1,000): JSON an attribute carried as text can parse into more than can be written
again. Anything deeper is written as its own JSON text, a string, by `jsonable` (so `dumps`): docs/mapping.md."""


def number(value: Any) -> float | None:
    """A JSON number as a float (a time, a duration, a count); None for anything else, booleans included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def jsonable(value: Any, depth: int = 0) -> Any:
    """Make any attribute value representable in JSON, losslessly where JSON allows it.

    NaN and infinities become the strings "NaN", "Infinity", "-Infinity"; bytes become text when they are
    UTF-8, else a `base64:`-prefixed string; tuples become lists; mapping keys become strings; a container
    more than `MAX_NESTING` levels down becomes its JSON text (`depth`: how deep `value` already is)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:  # the common cases, by exact type, first
        return value
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(value, Mapping):
        if depth >= MAX_NESTING:
            return json_text(value)
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (Sequence, set, frozenset)):
        if depth >= MAX_NESTING:
            return json_text(value)
        return [jsonable(v, depth + 1) for v in value]
    return str(value)


_LONG_NUMBER = re.compile(rb"\d{19,}")
"""A run of digits that may be an integer orjson reads as a float (beyond 64 bits, or, read signed, 63)."""


def loads(data: bytes | str) -> Any:
    """JSON as orjson reads it (which raises `orjson.JSONDecodeError` for what is not JSON), except that an
    integer beyond 64 bits, which orjson turns into an inexact float, becomes its decimal string, as `jsonable`
    writes one: a file or a request carrying one keeps every digit. Only text with a run of 19 or more digits
    is read a second time (by the standard library), so the common case costs one regex scan."""
    value = orjson.loads(data)
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER.search(raw) is None:
        return value
    try:
        return json.loads(raw, parse_int=_exact_int)
    except (RecursionError, ValueError):  # deeper than the standard library reads: orjson's reading stands
        return value


def _exact_int(text: str) -> int | str:
    number = int(text)
    return number if -(2**63) <= number < 2**64 else text


def dumps(value: Any) -> bytes:
    """`value` as compact JSON, whatever it holds: orjson's own encoding when it can (the hot path pays
    nothing more); otherwise every value made representable (`jsonable`, which also writes any part nested
    deeper than `MAX_NESTING` levels as its JSON text), rather than failing a whole batch for one value."""
    try:
        return orjson.dumps(value)
    except TypeError:
        pass
    made = jsonable(value)
    try:
        return orjson.dumps(made)
    except TypeError:  # text Python holds but UTF-8 cannot: a lone surrogate (bytes decoded with surrogateescape)
        return orjson.dumps(_utf8_only(made))


def _utf8_only(value: Any) -> Any:
    """`value` (as `jsonable` made it: nested at most `MAX_NESTING` deep) with each lone surrogate written as its
    escape, `\\udcff`: the text keeps what it said, and one value never fails a batch."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_utf8_only(k): _utf8_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utf8_only(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """The compact JSON text of `value` however deep it nests (an explicit stack: no recursion to run out of,
    and the text grows with the value, where JSON written inside JSON again and again would double its escapes
    at every level). Scalars are written as `jsonable` makes them; keys become strings."""
    out: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]  # (True, punctuation) or (False, a value to write)
    while stack:
        is_text, item = stack.pop()
        if is_text:
            out.append(item)
        elif isinstance(item, Mapping):
            out.append("{")
            stack.append((True, "}"))
            members = list(item.items())
            for i in range(len(members) - 1, -1, -1):
                key, member = members[i]
                stack.append((False, member))
                stack.append((True, ("," if i else "") + orjson.dumps(str(key)).decode() + ":"))
        elif isinstance(item, (list, tuple, set, frozenset)):
            out.append("[")
            stack.append((True, "]"))
            items = list(item)
            for i in range(len(items) - 1, -1, -1):
                stack.append((False, items[i]))
                if i:
                    stack.append((True, ","))
        else:
            out.append(dumps(jsonable(item)).decode())  # `dumps`: a lone surrogate written as its escape
    return "".join(out)
