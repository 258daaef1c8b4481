"""Resolving the values rules propose for an event's fields: rank, merges, nesting, and nothing lost.

Within a target the lowest rank wins; a losing value that differs is kept in `metadata` under its source key.
Ranks hold across nested targets (a rank-1 `config.model` does not overwrite the `model` a rank-0
`honeyhive_config.*` bucket gave), and attributes no rule took land in `metadata` as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import jsonable

_CACHE_LIMIT = 50_000


@dataclass(init=False, slots=True)
class Candidate:
    """A value proposed for an event field. There are several per span: `__init__` is written out so the
    compiled build constructs them natively (a generated one, or a NamedTuple's, runs as Python)."""

    target: str
    value: Any
    rank: int
    source: str
    merge: bool
    keep_if_shadowed: bool
    """False where the value is kept elsewhere anyway (an exception also stays in `metadata.events`)."""

    def __init__(
        self, target: str, value: Any, rank: int, source: str, merge: bool = False, keep_if_shadowed: bool = True
    ) -> None:
        self.target = target
        self.value = value
        self.rank = rank
        self.source = source
        self.merge = merge
        self.keep_if_shadowed = keep_if_shadowed


def apply_candidates(candidates: list[Candidate], unrouted: dict[str, Any], event: Event) -> None:
    by_target: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_target.setdefault(c.target, []).append(c)
    written: dict[str, tuple[int, str]] = {}
    for target, nested, encloses in _fill_order(tuple(by_target)):
        group = by_target[target]
        if len(group) > 1:
            group.sort(key=lambda c: c.rank)
        winner = group[0]
        value = _resolve(group, event) if len(group) > 1 else winner.value
        if nested and written and _yields_to_enclosing(event, target, winner, value, written):
            continue
        set_path(event, target, value, winner.merge)
        if encloses and isinstance(value, dict):
            written[target] = (winner.rank, winner.source)
    metadata = event["metadata"]
    for key, value in unrouted.items():
        metadata.setdefault(key, jsonable(value))


_Order = tuple[tuple[str, bool, bool], ...]
_ORDERS: dict[tuple[str, ...], _Order] = {}


def _fill_order(targets: tuple[str, ...]) -> _Order:
    """The order to fill a span's targets in (shallow first, so `outputs` is in place before `outputs.documents`
    goes into it), and for each whether another of them encloses it or it encloses another. Spans of one
    instrumentation hit the same few target sets, so this is cached."""
    order = _ORDERS.get(targets)
    if order is None:
        present = set(targets)
        enclosing = {a for t in targets for a in ancestors(t) if a in present}
        order = tuple(
            (t, any(a in present for a in ancestors(t)), t in enclosing) for t in sorted(targets, key=_depth)
        )
        if len(_ORDERS) >= _CACHE_LIMIT:
            _ORDERS.clear()
        _ORDERS[targets] = order
    return order


_MISSING: Any = object()


def _keep(event: Event, key: str, value: Any) -> None:
    """Keep a shadowed value in metadata under its source key (the first one kept wins)."""
    metadata = event.get("metadata")
    if isinstance(metadata, dict) and key not in metadata:
        metadata[key] = value


def _resolve(group: list[Candidate], event: Event) -> Any:
    """The value of one target from its candidates, best rank first. Merge rules deep-merge (the better rank
    winning each leaf) into the best object among the others, whose rivals lose as a whole. Every loser that
    differs from the result (for a merge: on some leaf) is kept in metadata."""
    winner = group[0]
    value = winner.value
    merging = isinstance(value, dict) and any(c.merge for c in group)
    if merging:
        value = _copy(value)
    base_taken = not winner.merge
    for loser in group[1:]:
        if merging and isinstance(loser.value, Mapping) and (loser.merge or not base_taken):
            base_taken = base_taken or not loser.merge
            if _merge_into(value, loser.value, keep_existing=True) and loser.keep_if_shadowed:
                _keep(event, loser.source, loser.value)
        elif loser.keep_if_shadowed and loser.value != value:
            _keep(event, loser.source, loser.value)
    return value


def _yields_to_enclosing(
    event: Event, target: str, winner: Candidate, value: Any, written: dict[str, tuple[int, str]]
) -> bool:
    """Precedence across targets: `config.model` from a rank-1 rule must not overwrite the `model` a rank-0
    `honeyhive_config.*` bucket gave. True when the existing value stays (the new one is kept in metadata);
    False when the new value is to be set (a value it replaces is kept in metadata)."""
    rank: int | None = None
    source = ancestor = ""
    for candidate in ancestors(target):
        found = written.get(candidate)
        if found is None:
            continue
        if rank is None:  # the nearest enclosing target names the source; the best rank among them decides
            rank, source, ancestor = found[0], found[1], candidate
        else:
            rank = min(rank, found[0])
    if rank is None:
        return False
    existing = _get_path(event, target)
    if existing is _MISSING:
        return False
    mergeable = winner.merge and isinstance(existing, dict) and isinstance(value, Mapping)
    if rank < winner.rank:
        shadowed = _merge_into(existing, value, keep_existing=True) if mergeable else existing != value
        if shadowed and winner.keep_if_shadowed:
            _keep(event, winner.source, winner.value)
        return True
    rest = target[len(ancestor) + 1 :]
    replaced_key = source[:-1] + rest if source.endswith("*") else f"{source}.{rest}"
    if mergeable:
        before = _copy(existing)
        if _merge_into(existing, value, keep_existing=False):
            _keep(event, replaced_key, before)
        return True
    if existing != value:
        _keep(event, replaced_key, existing)
    return False


def _merge_into(into: dict[str, Any], other: Mapping[str, Any], keep_existing: bool) -> bool:
    """Deep-merge `other` into `into`; on a leaf both hold with different values, `into`'s stays when
    `keep_existing`. Returns whether any such conflict was found."""
    conflict = False
    for key, new in other.items():
        old = into.get(key, _MISSING)
        if old is _MISSING:
            into[key] = _copy(new)
        elif isinstance(old, dict) and isinstance(new, Mapping):
            conflict = _merge_into(old, new, keep_existing) or conflict
        elif old != new:
            conflict = True
            if not keep_existing:
                into[key] = _copy(new)
    return conflict


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _get_path(event: Event, target: str) -> Any:
    node: Any = event
    for part in _split(target):
        if not isinstance(node, dict):
            return _MISSING
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


_ANCESTORS: dict[str, tuple[str, ...]] = {}


def ancestors(target: str) -> tuple[str, ...]:
    """`a.b.c` → (`a.b`, `a`): the targets that enclose it, nearest first."""
    found = _ANCESTORS.get(target)
    if found is None:
        parts = _split(target)
        found = _ANCESTORS[target] = tuple(".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
    return found


def _deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _deep_merge(current, value)
        else:
            into[key] = value


_PATHS: dict[str, tuple[str, ...]] = {}


def _split(target: str) -> tuple[str, ...]:
    parts = _PATHS.get(target)
    if parts is None:
        parts = _PATHS[target] = tuple(target.split("."))
    return parts


def _depth(target: str) -> int:
    return len(_split(target))


def set_path(event: Event, target: str, value: Any, merge: bool) -> None:
    parts = _split(target)
    head = parts[0]
    if len(parts) == 2 and not merge:
        bucket = event.get(head)
        if isinstance(bucket, dict):
            bucket[parts[1]] = value
            return
    if len(parts) == 1:
        current = event.get(head)
        if isinstance(current, dict) and isinstance(value, dict):
            if merge:
                _deep_merge(current, value)
            elif current:
                # A whole-bucket value replaces what the bucket held, but keeps keys it does not set.
                merged = dict(value)
                _deep_merge(merged, {k: v for k, v in current.items() if k not in merged})
                event[head] = merged
            else:
                event[head] = value
        else:
            event[head] = value
        return
    node = event.get(head)
    if not isinstance(node, dict):
        node = event[head] = {} if node is None else {"": node}
    for part in parts[1:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {} if child is None else {"": child}
        node = child
    leaf = parts[-1]
    if merge and isinstance(node.get(leaf), dict) and isinstance(value, Mapping):
        _deep_merge(node[leaf], value)
    else:
        node[leaf] = value
