"""Value converters used by the routing rules.

Instrumentations send the same datum as a JSON string, as flattened indexed keys or as a real sequence, and
numbers sometimes as strings; limits truncate JSON. Converters accept all of these and raise `ValueError` when a
value does not fit, so the engine keeps the raw attribute (in `metadata`) instead of dropping it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

from otel_honeyhive.core.jsonable import jsonable

_JSON_START = frozenset("{[")


def parse_json(value: Any) -> Any:
    """Parse a JSON string into an object; raise ValueError for anything that is not (complete) JSON."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError("not a string")
    text = value.strip()
    if not text:
        raise ValueError("empty")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


def maybe_json(value: Any) -> Any:
    """Parse strings that look like JSON objects or arrays; keep everything else (including truncated JSON)
    as it came."""
    if isinstance(value, str) and value[:1] in _JSON_START:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return jsonable(value)


_INT_MIN = -(2**63)
_INT_MAX = 2**64  # exclusive: JSON encoders (orjson) take signed and unsigned 64-bit integers


def _in_range(number: int) -> int:
    if _INT_MIN <= number < _INT_MAX:
        return number
    raise ValueError("integer out of the 64-bit range JSON encoders accept")


def to_int(value: Any) -> int:
    """A count: an int, an integral float, or either as text. Out-of-range or non-integral values raise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a count")
    if isinstance(value, int):
        return _in_range(value)
    if isinstance(value, float):
        if value.is_integer():
            return _in_range(int(value))
        raise ValueError("not an integer")
    if isinstance(value, str):
        text = value.strip()
        try:
            return _in_range(int(text))
        except ValueError:
            number = float(text)
            if number.is_integer():
                return _in_range(int(number))
            raise
    raise ValueError(f"not a number: {type(value).__name__}")


def to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        number: int | float = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            number = float(text)
    else:
        raise ValueError(f"not a number: {type(value).__name__}")
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    return _in_range(number)


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (int, float, bool)):
        return str(jsonable(value))
    raise ValueError(f"not text: {type(value).__name__}")


def as_bucket(default_key: str) -> Any:
    """A converter that turns a value into the dict a bucket (inputs, outputs …) needs: a JSON object is used as
    it is, anything else is kept under `default_key`."""

    def convert(value: Any) -> dict[str, Any]:
        parsed = maybe_json(value)
        if isinstance(parsed, dict):
            return dict(parsed)
        return {default_key: parsed}

    convert.__name__ = f"as_bucket({default_key!r})"
    return convert


def json_bucket(default_key: str) -> Any:
    """Like `as_bucket`, for values that are always JSON-encoded (OpenLLMetry's `traceloop.entity.*`, values
    declared `application/json`): any JSON value is decoded (`"text"` → `text`, `42` → 42), a JSON object is
    the bucket itself, and text that is not (complete) JSON is kept as it came under `default_key`."""

    def convert(value: Any) -> dict[str, Any]:
        try:
            parsed = parse_json(value)
        except ValueError:
            parsed = jsonable(value)
        if isinstance(parsed, dict):
            return parsed
        return {default_key: parsed}

    convert.__name__ = f"json_bucket({default_key!r})"
    return convert


def refusing(*placeholders: str) -> Any:
    """A converter that takes a value as it is, except the placeholders an instrumentation records where it knows
    nothing (Traceloop's LangChain instrumentation's model `"unknown"`): those it refuses, so the field is left to
    the next source."""
    refused = frozenset(placeholders)

    def convert(value: Any) -> Any:
        if isinstance(value, str) and value in refused:
            raise ValueError(f"{value!r} is a placeholder")
        return jsonable(value)

    convert.__name__ = f"refusing{placeholders!r}"
    return convert


def json_or_raw(value: Any) -> Any:
    return maybe_json(value)


def parse_json_strict(value: Any) -> Any:
    """For fields whose value must be JSON (e.g. tool definitions); a sequence is accepted as it is."""
    if isinstance(value, (list, tuple)):
        return [maybe_json(v) for v in value]
    return parse_json(value)


def child_object(node: dict[str, Any], key: str) -> dict[str, Any]:
    """`node[key]` as an object to descend into, rebuilding nested objects from dotted keys: made when missing; a
    value already there (the key was also a leaf) is kept under "" beside what comes."""
    child = node.get(key)
    if not isinstance(child, dict):
        child = {} if child is None else {"": child}
        node[key] = child
    return child


def nested_from_flat(pairs: Iterable[tuple[str, Any]]) -> Any:
    """Rebuild nested objects from flattened dotted keys (`a.b.0` → {"a": {"b": [...]}}).

    HoneyHive's SDK flattens dicts as `prefix.key` and lists as `prefix.0`; values that are themselves JSON
    strings of objects or arrays are parsed."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".") if key else [""]
        node = root
        for part in parts[:-1]:
            node = child_object(node, part)
        leaf = parts[-1]
        parsed = maybe_json(value)
        existing = node.get(leaf)
        if isinstance(existing, dict) and isinstance(parsed, dict):
            existing.update(parsed)
        elif isinstance(existing, dict):
            existing[""] = parsed
        else:
            node[leaf] = parsed
    return _lists_from_digit_keys(root)


def nested_bucket(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Like `nested_from_flat`, for a bucket (inputs, outputs …) that must stay an object."""
    built = nested_from_flat(pairs)
    return built if isinstance(built, dict) else {"value": built}


def _lists_from_digit_keys(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    for k, v in node.items():
        node[k] = _lists_from_digit_keys(v)
    if node and all(k.isascii() and k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def flat_dict(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {key: maybe_json(value) for key, value in pairs}
