"""The engine that applies a set of conventions (`rules.py`) to one span.

Within a target, the lowest `rank` wins. A losing value that differs from the winner is kept in `metadata`
under its source key, and an attribute no rule takes lands in `metadata` as it is: nothing is dropped.
Rules with `merge=True` (HoneyHive's own buckets) are deep-merged instead, the better rank winning each leaf.
Ranks also hold across nested targets: a rank-1 `config.model` does not overwrite the `model` a rank-0
`honeyhive_config.*` bucket gave (it is kept in metadata instead), while a better-ranked specific target does.
Each span's attributes are walked once; which rules a key matches is computed once per distinct key, and what
routing does with a span's whole key layout is planned once per layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from otel_honeyhive.core.events import BUCKETS, Event
from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.conventions import DEFAULT_CONVENTIONS
from otel_honeyhive.mapper.resolve import Candidate, ancestors, apply_candidates, set_path
from otel_honeyhive.mapper.rules import (
    Combine,
    Convention,
    Converter,
    Extract,
    Field,
    Group,
    Rule,
    SpanFacts,
    TypeRule,
)

_NO_MATCH: tuple[Field | Group | Combine, ...] = ()
_CACHE_LIMIT = 50_000
_LAYOUT_LIMIT = 4096
"""Attribute-key layouts remembered (a layout is the tuple of a span's attribute keys, in order)."""
_BUCKETS = frozenset(BUCKETS)


class _Layout(NamedTuple):
    keys: tuple[str, ...]
    type_rules: tuple[TypeRule, ...]
    """The type rules that may decide for spans with these keys, best first."""
    plans: dict[str, _Plan]
    """By event type."""


PROPOSED, CONSUMED, REFUSED, UNROUTED = "proposed", "consumed", "refused", "unrouted"


class Step(NamedTuple):
    """One routing decision, as `route_generally` notes it for `explain`: a key, the rule that looked at it
    (None: no rule took it), the candidate it gave (for `PROPOSED`) and what happened."""

    key: str
    rule: Field | Group | Combine | Extract | None
    candidate: Candidate | None
    what: str


class _Plan(NamedTuple):
    """What routing does with one attribute-key layout and event type, worked out once by `Ruleset._compile`.

    `slots` are the proposed values' (target, rank, source, merge), in the order the general loop proposes
    them: fields in attribute order, then groups, then combines. `direct` plans propose each target once and
    none inside another, so their values are set as they are, with no ranking."""

    validators: tuple[tuple[str, Converter], ...]
    fields: tuple[tuple[str, Converter | None], ...]
    """(key, converter) of each field rule; its target, rank and merge flag are in `slots`."""
    groups: tuple[tuple[Group, tuple[tuple[str, str], ...]], ...]
    combines: tuple[tuple[Combine, tuple[str, ...]], ...]
    slots: tuple[tuple[str, int, str, bool], ...]
    unrouted: tuple[str, ...]
    direct: bool
    targets: frozenset[str]
    enclosing: frozenset[str]
    """Every ancestor of a target (`config` for `config.model`)."""
    setters: tuple[tuple[str, str | None, str, bool], ...]
    """Per slot, for direct plans: (bucket, key) to set `event[bucket][key]` at once, or (target, None, target,
    merge) for `set_path`."""
    extracts: tuple[Extract, ...]
    """The extracts worth asking about spans of this layout (`Extract.keys`)."""

    def overlaps(self, target: str) -> bool:
        """Whether a value for `target` would meet one of the plan's: the same target, inside or around one."""
        return target in self.targets or target in self.enclosing or any(
            a in self.targets for a in ancestors(target)
        )


_NO_LAYOUT = _Layout((), (), {})
_DEFAULT: Ruleset | None = None


def _setter(target: str, merge: bool) -> tuple[str, str | None, str, bool]:
    head, dot, key = target.partition(".")
    if dot and "." not in key and head in _BUCKETS and not merge:
        return (head, key, target, merge)
    return (target, None, target, merge)


@dataclass
class Ruleset:
    """Conventions compiled for fast matching. Build one with `Ruleset.default()` and `.extend(...)`."""

    conventions: tuple[Convention, ...]
    _exact: dict[str, list[Field | Combine]] = field(default_factory=dict, repr=False)
    _prefixes: list[Group] = field(default_factory=list, repr=False)
    _extracts: list[Extract] = field(default_factory=list, repr=False)
    _type_rules: list[TypeRule] = field(default_factory=list, repr=False)
    _cache: dict[str, tuple[Field | Group | Combine, ...]] = field(default_factory=dict, repr=False)
    _layouts: dict[tuple[str, ...], _Layout] = field(default_factory=dict, repr=False)
    _last: tuple[Mapping[str, Any] | None, _Layout] = field(default=(None, _NO_LAYOUT), repr=False)

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
        """The built-in conventions. One shared instance: a ruleset never changes once built (`extend` makes a
        new one), and sharing keeps its layout plans warm across `spans_to_events` calls and exporters."""
        global _DEFAULT
        if _DEFAULT is None:
            _DEFAULT = cls(DEFAULT_CONVENTIONS)
        return _DEFAULT

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
            for rule in self._layout(attrs).type_rules:
                decided = rule.decide(attrs)
                if decided is not None:
                    return decided
        return "chain" if has_children else "tool"

    def _layout(self, attrs: Mapping[str, Any]) -> _Layout:
        """What is known about spans with these attribute keys (in this order): spans of one instrumentation
        share a few layouts, so the work that depends only on the keys is done once per layout."""
        last = self._last  # one read: a (attributes, layout) pair, consistent even if another thread replaces it
        if last[0] is attrs:  # the span just classified, now routed
            return last[1]
        keys = tuple(attrs)
        layout = self._layouts.get(keys)
        if layout is None:
            if len(self._layouts) >= _LAYOUT_LIMIT:
                self._layouts.clear()
            present = set(keys)
            type_rules = tuple(
                r for r in self._type_rules if r.keys is None or not present.isdisjoint(r.keys)
            )
            layout = self._layouts[keys] = _Layout(keys, type_rules, {})
        self._last = (attrs, layout)
        return layout

    # -- routing ----------------------------------------------------------------------------------------------

    def route(self, span: SpanView, event_type: str, event: Event) -> None:
        """Fill `event`'s fields from the span's attributes and the extractors.

        Spans of one instrumentation carry the same attribute keys, so what the rules do with a key layout is
        worked out once (a `_Plan`) and replayed; the rare span a plan cannot take as planned (a value a
        converter refuses) goes through `route_generally`, which every plan is equivalent to."""
        layout = self._layout(span.attributes)
        plan = layout.plans.get(event_type)
        if plan is None:
            plan = layout.plans[event_type] = self._compile(layout.keys, event_type)
        if not self._route_planned(plan, span, event_type, event):
            self.route_generally(span, event_type, event)

    def _compile(self, layout: tuple[str, ...], event_type: str) -> _Plan:
        """The general loop below, run on keys instead of values."""
        present = set(layout)
        fields: list[tuple[str, Converter | None]] = []
        field_slots: list[tuple[str, int, str, bool]] = []
        validators: list[tuple[str, Converter]] = []
        groups: dict[int, tuple[Group, list[tuple[str, str]]]] = {}
        combines: dict[int, Combine] = {}
        unrouted: list[str] = []
        for key in layout:
            taken = False
            for rule in self.matches(key):
                if rule.only is not None and event_type not in rule.only:
                    continue
                if isinstance(rule, Field) and rule.covered_by and present.isdisjoint(rule.covered_by):
                    continue
                taken = True
                if isinstance(rule, Field):
                    if rule.target is None:
                        if rule.convert is not None:
                            validators.append((key, rule.convert))
                    else:
                        fields.append((key, rule.convert))
                        field_slots.append((rule.target, rule.rank, key, rule.merge))
                elif isinstance(rule, Group):
                    groups.setdefault(id(rule), (rule, []))[1].append((key, key[len(rule.prefix) :]))
                else:
                    combines[id(rule)] = rule
            if not taken:
                unrouted.append(key)
        planned_combines: list[tuple[Combine, tuple[str, ...]]] = []
        for combine in combines.values():
            keys = tuple(k for k in combine.keys if k in present)
            if (combine.requires or combine.keys[0]) in keys:
                planned_combines.append((combine, keys))
            else:
                unrouted.extend(k for k in keys if len(self.matches(k)) == 1 and k not in unrouted)
        slots = (
            *field_slots,
            *((g.target, g.rank, g.prefix + "*", g.merge) for g, _ in groups.values()),
            *((c.target, c.rank, c.keys[0], c.merge) for c, _ in planned_combines),
        )
        targets = [slot[0] for slot in slots]
        unique = len(set(targets)) == len(targets)
        enclosing = {a for t in targets for a in ancestors(t)}
        return _Plan(
            tuple(validators),
            tuple(fields),
            tuple((g, tuple(pairs)) for g, pairs in groups.values()),
            tuple(planned_combines),
            slots,
            tuple(unrouted),
            unique and not enclosing.intersection(targets),
            frozenset(targets),
            frozenset(enclosing),
            tuple(_setter(target, merge) for target, _, _, merge in slots),
            tuple(e for e in self._extracts if e.keys is None or not present.isdisjoint(e.keys)),
        )

    def _route_planned(self, plan: _Plan, span: SpanView, event_type: str, event: Event) -> bool:
        """Route as `plan` says; False (with `event` untouched) when a value is refused and the span needs the
        general loop."""
        attrs = span.attributes
        values: list[Any] = []
        try:
            for key, validate in plan.validators:
                validate(attrs[key])
            for key, convert in plan.fields:
                value = attrs[key]
                values.append(convert(value) if convert is not None else jsonable(value))
            for group, pairs in plan.groups:
                values.append(group.build([(suffix, attrs[key]) for key, suffix in pairs]))
            for combine, keys in plan.combines:
                values.append(combine.build({k: attrs[k] for k in keys}))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return False
        extracted: list[Candidate] = []
        if plan.extracts:
            facts = SpanFacts(span, event_type)
            for extract in plan.extracts:
                extracted.extend(extract.fn(facts))
        if plan.direct and not (extracted and any(plan.overlaps(c.target) for c in extracted)):
            for (head, leaf, target, merge), value in zip(plan.setters, values):  # noqa: B905 (same length)
                if leaf is not None:
                    event[head][leaf] = value
                else:
                    set_path(event, target, value, merge)
            if extracted:
                apply_candidates(extracted, {key: attrs[key] for key in plan.unrouted}, event)
            else:
                metadata = event["metadata"]
                for key in plan.unrouted:
                    if key not in metadata:
                        metadata[key] = jsonable(attrs[key])
            return True
        candidates = [
            Candidate(target, value, rank, source, merge)
            for (target, rank, source, merge), value in zip(plan.slots, values, strict=True)
        ]
        candidates.extend(extracted)
        apply_candidates(candidates, {key: attrs[key] for key in plan.unrouted}, event)
        return True

    def route_generally(self, span: SpanView, event_type: str, event: Event, trail: list[Step] | None = None) -> None:
        """Routing without a plan: every attribute matched, converted and proposed as it comes. With `trail`,
        each decision is also noted there (`explain`; the exporter never passes one)."""
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
                    if rule.covered_by and not any(k in attrs for k in rule.covered_by):
                        continue
                    if rule.target is None:
                        if rule.convert is not None:  # a validator: a value it refuses lands in metadata
                            try:
                                rule.convert(value)
                            except (ValueError, TypeError, KeyError, IndexError):
                                if trail is not None:
                                    trail.append(Step(key, rule, None, REFUSED))
                                continue
                        if trail is not None:
                            trail.append(Step(key, rule, None, CONSUMED))
                        taken = True
                        continue
                    try:
                        converted = rule.convert(value) if rule.convert is not None else jsonable(value)
                    except (ValueError, TypeError, KeyError, IndexError):
                        if trail is not None:
                            trail.append(Step(key, rule, None, REFUSED))
                        continue
                    candidates.append(Candidate(rule.target, converted, rule.rank, key, rule.merge))
                    if trail is not None:
                        trail.append(Step(key, rule, candidates[-1], PROPOSED))
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
                    if trail is not None:
                        trail.append(Step(rule.prefix + suffix, rule, None, REFUSED))
                continue
            candidates.append(Candidate(rule.target, built, rule.rank, rule.prefix + "*", rule.merge))
            if trail is not None:
                trail.extend(Step(rule.prefix + suffix, rule, candidates[-1], PROPOSED) for suffix, _ in pairs)
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
                    if trail is not None:
                        trail.append(Step(k, combine, None, REFUSED))
                continue
            candidates.append(Candidate(combine.target, built, combine.rank, combine.keys[0], combine.merge))
            if trail is not None:
                trail.extend(Step(k, combine, candidates[-1], PROPOSED) for k in present)
        if self._extracts:
            facts = SpanFacts(span, event_type)
            for extract in self._extracts:
                if extract.keys is not None and not any(k in attrs for k in extract.keys):
                    continue
                extracted = list(extract.fn(facts))
                candidates.extend(extracted)
                if trail is not None:
                    trail.extend(Step(c.source, extract, c, PROPOSED) for c in extracted)
        if trail is not None:
            trail.extend(Step(key, None, None, UNROUTED) for key in unrouted if key in attrs)
        apply_candidates(candidates, unrouted, event)


__all__ = ["CONSUMED", "PROPOSED", "REFUSED", "UNROUTED", "Ruleset", "Step"]
