"""The rule vocabulary conventions are written in (`ruleset.py` compiles and applies them).

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
from dataclasses import dataclass
from typing import Any

from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.resolve import Candidate

Converter = Callable[[Any], Any]
Builder = Callable[[list[tuple[str, Any]]], Any]
EventTypes = frozenset[str] | None

MODEL = frozenset({"model"})
NOT_MODEL = frozenset({"tool", "chain", "session"})
MODEL_CALL = frozenset({"model", "session"})
"""A model event, or the session a model call's span became when it is its trace's root (a trace that is one
call): what describes a call's answer, by the same names either way."""


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
    covered_by: tuple[str, ...] = ()
    """With target None: the key only repeats what these keys carry, so it is taken (and not kept in metadata)
    when one of them is present, and left to metadata otherwise (OpenInference's raw `input.value` of a model
    span, beside the messages it holds)."""


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


@dataclass(init=False, slots=True)
class SpanFacts:
    """What an `Extract` rule is given: the span and the event type it maps to."""

    span: SpanView
    event_type: str

    def __init__(self, span: SpanView, event_type: str) -> None:  # native in the compiled build
        self.span = span
        self.event_type = event_type


@dataclass(frozen=True, slots=True)
class Extract:
    name: str
    fn: Callable[[SpanFacts], Iterable[Candidate]]
    description: str = ""
    targets: tuple[str, ...] = ()
    rank: int = 50
    """Where the README's routing table lists it among its targets' sources (its candidates carry their own
    ranks, which are what the engine uses)."""
    keys: tuple[str, ...] | None = None
    """The attributes `fn` needs one of to propose anything: spans that carry none of them are not asked (worked
    out once per attribute-key layout). None: asked about every span (what it reads is not an attribute)."""


@dataclass(frozen=True, slots=True)
class TypeRule:
    rank: int
    decide: Callable[[Mapping[str, Any]], str | None]
    description: str
    keys: tuple[str, ...] | None = None
    """The attributes `decide` reads, when it abstains (None) on spans that carry none of them: then it is not
    asked about such spans at all. None: asked about every span."""


def by_value(key: str, table: Mapping[str, str], rank: int) -> TypeRule:
    lowered = {k.lower(): v for k, v in table.items()}

    def decide(attrs: Mapping[str, Any]) -> str | None:
        value = attrs.get(key)
        return lowered.get(value.lower()) if isinstance(value, str) else None

    listing = ", ".join(f"{k}→{v}" for k, v in table.items())
    return TypeRule(rank, decide, f"`{key}`: {listing}", (key,))


def when_present(keys: Sequence[str], event_type: str, rank: int) -> TypeRule:
    def decide(attrs: Mapping[str, Any]) -> str | None:
        return event_type if any(k in attrs for k in keys) else None

    return TypeRule(rank, decide, f"any of {', '.join(f'`{k}`' for k in keys)} present → {event_type}",
                    tuple(keys))


Rule = Field | Group | Combine | Extract


@dataclass(frozen=True)
class Convention:
    """One instrumentation convention: its routing rules and its event-type votes."""

    name: str
    rules: tuple[Rule, ...] = ()
    type_rules: tuple[TypeRule, ...] = ()
    description: str = ""


__all__ = [
    "MODEL",
    "NOT_MODEL",
    "Candidate",
    "Combine",
    "Convention",
    "Extract",
    "Field",
    "Group",
    "Rule",
    "SpanFacts",
    "TypeRule",
    "by_value",
    "when_present",
]
