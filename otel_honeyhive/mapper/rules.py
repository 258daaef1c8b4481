"""The rule vocabulary conventions are written in, and the engine that applies them to one span.

A convention is a table of small rules:

- `Field`: one attribute key → one event field (`gen_ai.request.model` → `config.model`).
- `Group`: every attribute under a prefix, built into one value (`gen_ai.prompt.{i}.*` → `inputs.chat_history`).
- `Combine`: several exact keys read together (`gen_ai.input.messages` + `gen_ai.system_instructions`).
- `Extract`: a value derived from the span itself rather than one attribute (status, span events, ids).
- `TypeRule`: a vote on the event type (`openinference.span.kind=LLM` → model).

Within a target, the lowest `rank` wins. A losing value that differs from the winner is kept in `metadata`
under its source key, and an attribute no rule takes lands in `metadata` as it is: nothing is dropped.
Rules with `merge=True` (HoneyHive's own buckets) are deep-merged instead, the better rank winning each leaf.
Ranks also hold across nested targets: a rank-1 `config.model` does not overwrite the `model` a rank-0
`honeyhive_config.*` bucket gave (it is kept in metadata instead), while a better-ranked specific target does.
Each span's attributes are walked once; which rules a key matches is computed once per distinct key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from otel_honeyhive.events import Event
from otel_honeyhive.mapper.values import jsonable
from otel_honeyhive.spans.view import SpanView

Converter = Callable[[Any], Any]
Builder = Callable[[list[tuple[str, Any]]], Any]
EventTypes = frozenset[str] | None

MODEL = frozenset({"model"})
NOT_MODEL = frozenset({"tool", "chain", "session"})


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    target: str | None
    """Dotted event path; None marks a key consumed elsewhere (identity) that must not land in metadata: then
    `convert` is a validator, and a value it refuses (raises on) is kept in metadata after all."""
    rank: int = 50
    convert: Converter | None = None
    only: EventTypes = None
    merge: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    prefix: str
    target: str
    build: Builder
    rank: int = 50
    exclude: frozenset[str] = frozenset()
    """Suffixes (after the prefix) left to other rules or to metadata."""
    only: EventTypes = None
    merge: bool = False
    accept: Callable[[str], bool] | None = None
    """Which suffixes the group takes (checked once per distinct key); the others go to other rules or metadata."""
    label: str = ""
    """How the README's routing table names the keys taken, when `accept` narrows the prefix."""


@dataclass(frozen=True, slots=True)
class Combine:
    keys: tuple[str, ...]
    target: str
    build: Callable[[Mapping[str, Any]], Any]
    rank: int = 50
    only: EventTypes = None
    merge: bool = False
    requires: str | None = None
    """The key that must be present for the rule to apply (default: the first)."""


class Candidate(NamedTuple):
    """A value proposed for an event field. A tuple, not a dataclass: there are many per span."""

    target: str
    value: Any
    rank: int
    source: str
    merge: bool = False
    keep_if_shadowed: bool = True
    """False where the value is kept elsewhere anyway (an exception also stays in `metadata.events`)."""


class SpanFacts(NamedTuple):
    span: SpanView
    event_type: str


@dataclass(frozen=True, slots=True)
class Extract:
    name: str
    fn: Callable[[SpanFacts], Iterable[Candidate]]
    description: str = ""
    targets: tuple[str, ...] = ()
    rank: int = 50
    """Where the README's routing table lists it among its targets' sources (its candidates carry their own
    ranks, which are what the engine uses)."""


@dataclass(frozen=True, slots=True)
class TypeRule:
    rank: int
    decide: Callable[[Mapping[str, Any]], str | None]
    description: str


def by_value(key: str, table: Mapping[str, str], rank: int) -> TypeRule:
    lowered = {k.lower(): v for k, v in table.items()}

    def decide(attrs: Mapping[str, Any]) -> str | None:
        value = attrs.get(key)
        return lowered.get(value.lower()) if isinstance(value, str) else None

    listing = ", ".join(f"{k}→{v}" for k, v in table.items())
    return TypeRule(rank, decide, f"`{key}`: {listing}")


def when_present(keys: Sequence[str], event_type: str, rank: int) -> TypeRule:
    def decide(attrs: Mapping[str, Any]) -> str | None:
        return event_type if any(k in attrs for k in keys) else None

    return TypeRule(rank, decide, f"any of {', '.join(f'`{k}`' for k in keys)} present → {event_type}")


Rule = Field | Group | Combine | Extract


@dataclass(frozen=True)
class Convention:
    """One instrumentation convention: its routing rules and its event-type votes."""

    name: str
    rules: tuple[Rule, ...] = ()
    type_rules: tuple[TypeRule, ...] = ()
    description: str = ""


_NO_MATCH: tuple[Field | Group | Combine, ...] = ()
_CACHE_LIMIT = 50_000


@dataclass
class Ruleset:
    """Conventions compiled for fast matching. Build one with `Ruleset.default()` and `.extend(...)`."""

    conventions: tuple[Convention, ...]
    _exact: dict[str, list[Field | Combine]] = field(default_factory=dict, repr=False)
    _prefixes: list[Group] = field(default_factory=list, repr=False)
    _extracts: list[Extract] = field(default_factory=list, repr=False)
    _type_rules: list[TypeRule] = field(default_factory=list, repr=False)
    _cache: dict[str, tuple[Field | Group | Combine, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for convention in self.conventions:
            for rule in convention.rules:
                if isinstance(rule, Field):
                    self._exact.setdefault(rule.key, []).append(rule)
                elif isinstance(rule, Combine):
                    for key in rule.keys:
                        self._exact.setdefault(key, []).append(rule)
                elif isinstance(rule, Group):
                    if not rule.prefix.endswith("."):
                        raise ValueError(f"group prefix must end with '.': {rule.prefix!r}")
                    self._prefixes.append(rule)
                else:
                    self._extracts.append(rule)
            self._type_rules.extend(convention.type_rules)
        self._type_rules.sort(key=lambda r: r.rank)

    @classmethod
    def default(cls) -> Ruleset:
        from otel_honeyhive.mapper.conventions import DEFAULT_CONVENTIONS

        return cls(DEFAULT_CONVENTIONS)

    def extend(self, *additions: Convention | Rule | TypeRule) -> Ruleset:
        """A new ruleset with user rules added: a `Convention`, or loose rules collected into one."""
        extra: list[Rule] = []
        types: list[TypeRule] = []
        conventions = list(self.conventions)
        for item in additions:
            if isinstance(item, Convention):
                conventions.append(item)
            elif isinstance(item, TypeRule):
                types.append(item)
            else:
                extra.append(item)
        if extra or types:
            conventions.append(Convention("user", tuple(extra), tuple(types)))
        return Ruleset(tuple(conventions))

    @property
    def type_rules(self) -> list[TypeRule]:
        return self._type_rules

    def matches(self, key: str) -> tuple[Field | Group | Combine, ...]:
        found = self._cache.get(key)
        if found is not None:
            return found
        rules: list[Field | Group | Combine] = list(self._exact.get(key, ()))
        for group in self._prefixes:
            if key.startswith(group.prefix):
                suffix = key[len(group.prefix) :]
                if suffix not in group.exclude and (group.accept is None or group.accept(suffix)):
                    rules.append(group)
        result = tuple(rules) if rules else _NO_MATCH
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
        return result

    # -- classification ---------------------------------------------------------------------------------------

    def classify(self, attrs: Mapping[str, Any], has_children: bool) -> str:
        if attrs:
            for rule in self._type_rules:
                decided = rule.decide(attrs)
                if decided is not None:
                    return decided
        return "chain" if has_children else "tool"

    # -- routing ----------------------------------------------------------------------------------------------

    def route(self, span: SpanView, event_type: str, event: Event) -> None:
        """Fill `event`'s fields from the span's attributes and the extractors."""
        candidates: list[Candidate] = []
        unrouted: dict[str, Any] = {}
        groups: dict[int, tuple[Group, list[tuple[str, Any]]]] = {}
        combines: dict[int, Combine] = {}
        attrs = span.attributes
        cache = self._cache
        for key, value in attrs.items():
            rules = cache.get(key)
            if rules is None:
                rules = self.matches(key)
            if not rules:
                unrouted[key] = value
                continue
            taken = False
            for rule in rules:
                if rule.only is not None and event_type not in rule.only:
                    continue
                if isinstance(rule, Field):
                    if rule.target is None:
                        if rule.convert is not None:  # a validator: a value it refuses lands in metadata
                            try:
                                rule.convert(value)
                            except (ValueError, TypeError, KeyError, IndexError):
                                continue
                        taken = True
                        continue
                    try:
                        converted = rule.convert(value) if rule.convert is not None else jsonable(value)
                    except (ValueError, TypeError, KeyError, IndexError):
                        continue
                    candidates.append(Candidate(rule.target, converted, rule.rank, key, rule.merge))
                    taken = True
                elif isinstance(rule, Group):
                    entry = groups.get(id(rule))
                    if entry is None:
                        entry = groups[id(rule)] = (rule, [])
                    entry[1].append((key[len(rule.prefix) :], value))
                    taken = True
                else:
                    combines[id(rule)] = rule
                    taken = True
            if not taken:
                unrouted[key] = value
        for rule, pairs in groups.values():
            try:
                built = rule.build(pairs)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                for suffix, value in pairs:
                    unrouted.setdefault(rule.prefix + suffix, value)
                continue
            candidates.append(Candidate(rule.target, built, rule.rank, rule.prefix + "*", rule.merge))
        for combine in combines.values():
            present = {k: attrs[k] for k in combine.keys if k in attrs}
            if (combine.requires or combine.keys[0]) not in present:
                for k, v in present.items():
                    if len(self.matches(k)) == 1:
                        unrouted.setdefault(k, v)
                continue
            try:
                built = combine.build(present)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                for k, v in present.items():
                    unrouted.setdefault(k, v)
                continue
            candidates.append(Candidate(combine.target, built, combine.rank, combine.keys[0], combine.merge))
        if self._extracts:
            facts = SpanFacts(span, event_type)
            for extract in self._extracts:
                candidates.extend(extract.fn(facts))
        _apply(candidates, unrouted, event)


def _apply(candidates: list[Candidate], unrouted: dict[str, Any], event: Event) -> None:
    by_target: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_target.setdefault(c.target, []).append(c)
    written: dict[str, tuple[int, str]] = {}
    for target, nested, encloses in _plan(tuple(by_target)):
        group = by_target[target]
        if len(group) > 1:
            group.sort(key=lambda c: c.rank)
        winner = group[0]
        value = _resolve(group, event) if len(group) > 1 else winner.value
        if nested and written and _yields_to_enclosing(event, target, winner, value, written):
            continue
        _set_path(event, target, value, winner.merge)
        if encloses and isinstance(value, dict):
            written[target] = (winner.rank, winner.source)
    metadata = event["metadata"]
    for key, value in unrouted.items():
        metadata.setdefault(key, jsonable(value))


_Plan = tuple[tuple[str, bool, bool], ...]
_PLANS: dict[tuple[str, ...], _Plan] = {}


def _plan(targets: tuple[str, ...]) -> _Plan:
    """The order to fill a span's targets in (shallow first, so `outputs` is in place before `outputs.documents`
    goes into it), and for each whether another of them encloses it or it encloses another. Spans of one
    instrumentation hit the same few target sets, so this is cached."""
    plan = _PLANS.get(targets)
    if plan is None:
        present = set(targets)
        enclosing = {a for t in targets for a in _ancestors(t) if a in present}
        plan = tuple(
            (t, any(a in present for a in _ancestors(t)), t in enclosing) for t in sorted(targets, key=_depth)
        )
        if len(_PLANS) >= _CACHE_LIMIT:
            _PLANS.clear()
        _PLANS[targets] = plan
    return plan


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
    for candidate in _ancestors(target):
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


def _ancestors(target: str) -> tuple[str, ...]:
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


def _set_path(event: Event, target: str, value: Any, merge: bool) -> None:
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
