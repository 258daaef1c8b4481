"""Span filtering: which spans of a trace become events, and where the children of the dropped ones go.

Users ask to keep noise out of their traces (HTTP client spans, database spans, a framework's plumbing) without
breaking the tree. A `SpanFilter` decides per span; `select` applies it to an assembled trace (or a part of one)
and re-attaches each kept span whose parent was dropped to its nearest kept ancestor, so every `parent_id` still
names an event. The trace mapper runs it before mapping, with its per-trace memory of dropped spans, so a child
that arrives in a later part than its dropped parent is re-attached too
(docs/identity-and-assembly.md#span-filtering).

What is never dropped, whatever the filter says:
- a local root (no parent, or a remote one): the root stays the session, and a process never re-parents onto a
  span that lives in another process;
- a span whose children were already shipped pointing at it (they cannot be re-attached any more);
- a span given back as the event it came from (the origin marker), and the parent of one (such an event keeps
  its own `parent_id`);
- a span the trace's memory has no room to remember as dropped (its later children would be left dangling).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import translate
from typing import Protocol

from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.markers import ORIGIN_KEY

logger = logging.getLogger("otel_honeyhive.filtering")

SpanPredicate = Callable[[SpanView], bool]
"""`span_filter=`: True keeps the span, False drops it."""

GENAI = "genai"
PRESETS: tuple[str, ...] = (GENAI,)
"""The built-in filters, by name (`span_filter="genai"`, `--span-filter genai`, `HH_SPAN_FILTER=genai`)."""

REASON_SCOPE = "scope"
REASON_SPAN_NAME = "span_name"
REASON_GENAI = GENAI
REASON_PREDICATE = "span_filter"
REASONS: tuple[str, ...] = (REASON_SCOPE, REASON_SPAN_NAME, REASON_GENAI, REASON_PREDICATE)
"""The `reason` label of `otel_honeyhive_spans_filtered_total`: the first rule that dropped the span, in this
order (the cheapest first)."""

_RECOGNISING = frozenset({"genai", "openinference", "openllmetry", "honeyhive"})
"""The conventions whose recognition keeps a span under the `genai` preset (not `span_events`, which reads
any span's events, nor user rules)."""
_CONTENT_BUCKETS = frozenset({"inputs", "outputs", "config"})
_TOKEN_TARGETS = frozenset({"metadata.prompt_tokens", "metadata.completion_tokens", "metadata.total_tokens"})


def check_presets(names: Iterable[str], option: str = "span_filter") -> tuple[str, ...]:
    """The preset names, checked: ValueError listing the valid ones for an unknown name (one clear line)."""
    checked: list[str] = []
    for name in names:
        cleaned = name.strip().lower()
        if cleaned not in PRESETS:
            raise ValueError(f"{option}: unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
        if cleaned not in checked:
            checked.append(cleaned)
    return tuple(checked)


def split_list(text: str | None) -> tuple[str, ...]:
    """A comma-separated environment value (`HH_DROP_SCOPES=a,b`) as its non-empty items."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


class _Names:
    """Exact names and glob patterns (`opentelemetry.instrumentation.http*`), matched at the cost of a set lookup
    for exact names and one compiled regex for all the patterns."""

    __slots__ = ("exact", "pattern")

    def __init__(self, names: Iterable[str]) -> None:
        exact: set[str] = set()
        globs: list[str] = []
        for name in names:
            if any(c in name for c in "*?["):
                globs.append(name)
            else:
                exact.add(name)
        self.exact = frozenset(exact)
        self.pattern = re.compile("|".join(f"(?:{translate(g)})" for g in globs)) if globs else None

    def __bool__(self) -> bool:
        return bool(self.exact) or self.pattern is not None

    def match(self, name: str | None) -> bool:
        if name is None:
            return False
        return name in self.exact or (self.pattern is not None and self.pattern.match(name) is not None)


class GenAIRecogniser:
    """Whether a GenAI, OpenInference, Traceloop (OpenLLMetry) or HoneyHive convention recognises a span: one of
    their type rules decides its event type, or it carries a key one of their rules routes into `inputs`,
    `outputs`, `config` or the token counts (or consumes as a model field). Keys such conventions spread onto
    every span of a context (Traceloop's association properties, OpenInference's `session.id`, HoneyHive's
    session and project) are not evidence: with them, an HTTP span under an agent would be kept too."""

    def __init__(self) -> None:
        from otel_honeyhive.mapper.conventions import DEFAULT_CONVENTIONS
        from otel_honeyhive.mapper.rules import Combine, Field, Group, TypeRule

        exact: set[str] = set()
        prefixes: list[str] = []
        type_rules: list[TypeRule] = []
        for convention in DEFAULT_CONVENTIONS:
            if convention.name not in _RECOGNISING:
                continue
            type_rules.extend(convention.type_rules)
            for rule in convention.rules:
                if isinstance(rule, Field):
                    if rule.target is None:
                        if convention.name != "honeyhive":  # HoneyHive's are identity keys, on every span
                            exact.add(rule.key)
                    elif _is_content(rule.target):
                        exact.add(rule.key)
                elif isinstance(rule, Group) and _is_content(rule.target):
                    prefixes.append(rule.prefix)
                elif isinstance(rule, Combine) and _is_content(rule.target):
                    exact.update(rule.keys)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._type_rules = tuple(sorted(type_rules, key=lambda r: r.rank))
        self._keys: dict[str, bool] = {}

    def _evidence(self, key: str) -> bool:
        found = key in self._exact or key.startswith(self._prefixes)
        if len(self._keys) < 50_000:
            self._keys[key] = found
        return found

    def __call__(self, span: SpanView) -> bool:
        attrs = span.attributes
        if not attrs:
            return False
        keys = self._keys
        for key in attrs:
            known = keys.get(key)
            if known is None:
                known = self._evidence(key)
            if known:
                return True
        for rule in self._type_rules:
            if (rule.keys is None or any(k in attrs for k in rule.keys)) and rule.decide(attrs) is not None:
                return True
        return False


def _is_content(target: str) -> bool:
    return target.partition(".")[0] in _CONTENT_BUCKETS or target in _TOKEN_TARGETS


class SpanFilter:
    """Which spans to drop: by instrumentation scope name, by span name (exact names or glob patterns), unless a
    preset recognises them, or when a predicate says so. Thread-safe once built (the preset's key cache may be
    filled from two threads at once; both write the same answer)."""

    def __init__(
        self,
        predicate: SpanPredicate | None = None,
        *,
        presets: Sequence[str] = (),
        drop_scopes: Iterable[str] = (),
        drop_spans: Iterable[str] = (),
    ) -> None:
        """ValueError for an unknown preset name, listing the valid ones."""
        self.predicate = predicate
        self.presets = check_presets(presets)
        self.drop_scopes = tuple(drop_scopes)
        self.drop_spans = tuple(drop_spans)
        self._scopes = _Names(self.drop_scopes)
        self._names = _Names(self.drop_spans)
        self._genai = GenAIRecogniser() if GENAI in self.presets else None
        self._predicate_failed = False

    @classmethod
    def build(
        cls,
        span_filter: SpanPredicate | str | Sequence[str] | None = None,
        drop_scopes: Iterable[str] | str = (),
        drop_spans: Iterable[str] | str = (),
        *,
        option: str = "span_filter",
    ) -> SpanFilter | None:
        """A filter from the exporter's keywords (`span_filter` a predicate, a preset name, or several names;
        `drop_scopes` and `drop_spans` lists of globs, or one string of them, comma-separated, as their environment
        variables take them: never its characters one by one); None when nothing is asked, so that filtering off
        costs nothing. `option`: what an error names."""
        predicate: SpanPredicate | None = None
        presets: tuple[str, ...] = ()
        if isinstance(span_filter, str):
            presets = check_presets(split_list(span_filter) or (span_filter,), option)
        elif callable(span_filter):
            predicate = span_filter
        elif span_filter is not None:
            presets = check_presets(span_filter, option)
        scopes = split_list(drop_scopes) if isinstance(drop_scopes, str) else tuple(drop_scopes)
        spans = split_list(drop_spans) if isinstance(drop_spans, str) else tuple(drop_spans)
        if predicate is None and not presets and not scopes and not spans:
            return None
        return cls(predicate, presets=presets, drop_scopes=scopes, drop_spans=spans)

    def __repr__(self) -> str:
        parts = [f"presets={list(self.presets)}"] if self.presets else []
        parts += [f"drop_scopes={list(self.drop_scopes)}"] if self.drop_scopes else []
        parts += [f"drop_spans={list(self.drop_spans)}"] if self.drop_spans else []
        parts += ["predicate"] if self.predicate is not None else []
        return f"SpanFilter({', '.join(parts)})"

    def reason(self, span: SpanView) -> str | None:
        """Why the span is dropped (a `REASONS` label), or None to keep it. A predicate that raises keeps the span
        (logged once): a bug in a filter must never lose data silently."""
        if self._scopes and self._scopes.match(span.scope_name):
            return REASON_SCOPE
        if self._names and self._names.match(span.name):
            return REASON_SPAN_NAME
        if self._genai is not None and not self._genai(span):
            return REASON_GENAI
        if self.predicate is not None:
            try:
                keep = self.predicate(span)
            except Exception:
                if not self._predicate_failed:
                    self._predicate_failed = True
                    logger.exception("otel-honeyhive: span_filter raised; the spans it fails on are kept "
                                     "(logged once)")
                return None
            if not keep:
                return REASON_PREDICATE
        return None


class FilterMemory(Protocol):
    """What `select` needs from the trace mapper's memory of one trace (`mapper/trace.py`)."""

    @property
    def dangling(self) -> Mapping[int, object]:
        """Parents not seen yet that shipped children point at, by span id."""

    @property
    def dropped(self) -> Mapping[int, int]:
        """Dropped span id → its parent's span id, for every span of the trace dropped so far."""

    def remember_dropped(self, span_id: int, parent_span_id: int) -> bool:
        """False when the memory is full (then the span is kept)."""


def select(spans: Sequence[SpanView], span_filter: SpanFilter, memory: FilterMemory
           ) -> tuple[Sequence[SpanView], dict[str, int]]:
    """The spans of one trace (part) to map, each kept span whose parent was dropped (now or in an earlier part)
    re-attached to its nearest kept ancestor; and how many spans were newly dropped, by reason. A span dropped in
    an earlier part and sent again (a retried hand-off, a duplicate) is dropped again but not counted again."""
    counts: dict[str, int] = {}
    protected: set[int] | None = None
    for span in spans:
        if span.parent_span_id == 0 or span.parent_is_remote or span.span_id in memory.dangling:
            continue
        attrs = span.attributes
        if ORIGIN_KEY in attrs and attrs[ORIGIN_KEY] == "event":
            continue
        reason = span_filter.reason(span)
        if reason is None:
            continue
        if protected is None:
            protected = {s.parent_span_id for s in spans if ORIGIN_KEY in s.attributes
                         and s.attributes[ORIGIN_KEY] == "event"}
        if span.span_id in protected:
            continue
        known = span.span_id in memory.dropped
        if not memory.remember_dropped(span.span_id, span.parent_span_id):
            continue
        if not known:
            counts[reason] = counts.get(reason, 0) + 1
    dropped = memory.dropped
    if not dropped:
        return spans, counts
    kept: list[SpanView] = []
    for span in spans:
        if span.span_id in dropped:
            continue
        parent = span.parent_span_id
        if parent in dropped:
            for _ in range(len(dropped)):  # bounded: malformed ids must not loop
                parent = dropped[parent]
                if parent not in dropped:
                    break
            span = with_parent(span, parent)
        kept.append(span)
    return kept, counts


def with_parent(span: SpanView, parent_span_id: int) -> SpanView:
    """The span re-attached under another parent of the same process (so never remote)."""
    return SpanView(
        span.trace_id, span.span_id, span.name, span.start_ns, span.end_ns, parent_span_id, False, span.kind,
        span.status_code, span.status_message, span.attributes, span.events, span.links, span.resource,
        span.scope_name, span.scope_version, span.dropped_attributes, span.dropped_events, span.dropped_links,
        span.extra,
    )


__all__ = [
    "GENAI",
    "PRESETS",
    "REASONS",
    "FilterMemory",
    "GenAIRecogniser",
    "SpanFilter",
    "SpanPredicate",
    "check_presets",
    "select",
    "split_list",
    "with_parent",
]
