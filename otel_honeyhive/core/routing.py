"""Per-project routing: which HoneyHive project (and so which API key) a trace goes to (docs/routing.md).

HoneyHive's API keys are scoped to one project, and its v1 batch route takes the project from the key alone, so
one sidecar serving several services needs a project *and a key* per trace. A `RoutingTable` is the ordered
rules, the default project, what to do with a trace no rule matches, and each project's key (named by an
environment variable, or given literally). It is checked once, at start-up: every problem is one `ValueError`
line naming the file, the key path and what is wrong.

The decision is taken per trace, on its root span: a `resource` rule matches the root's resource attributes, a
`span` rule the root span's attributes, else the first span (in start order) that carries the attribute. A trace
shipped in parts (its root late) is decided on the part that comes first and remembered (`TraceRouter`), so
every part goes to one project. Keys are held as `Secret`s and never written anywhere: events carry the project
name, and the key is looked up when a request is sent.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from otel_honeyhive.core.results import Outcome, SendResult
from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.core.spans import SpanView

logger = logging.getLogger("otel_honeyhive.routing")

UNROUTED_CHOICES = ("default", "refuse")
RULE_KEYS = frozenset({"resource", "span", "project"})
PROJECT_KEYS = frozenset({"api_key_env", "api_key"})
TABLE_KEYS = frozenset({"rules", "default", "unrouted", "projects"})
_GLOB_CHARS = frozenset("*?[")
MEMORY_TRACES = 10_000
"""Traces whose decision is remembered, so a trace's later parts follow its first."""
LOGGED_VALUES = 1_000
"""Distinct unrouted `service.name` values logged (once each) before the rest are only counted."""


def _pattern(text: str, where: str) -> re.Pattern[str] | str:
    """An exact value (a str) or a compiled glob; ValueError for a glob that cannot mean what it says."""
    if not _GLOB_CHARS.intersection(text):
        return text
    depth = 0
    for char in text:  # fnmatch takes an unclosed `[` literally, which is never what the user meant
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        raise ValueError(f"{where}: bad glob {text!r}: '[' is not closed (write [[] for a literal '[')")
    return re.compile(fnmatch.translate(text))


def _matches(pattern: re.Pattern[str] | str, value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return isinstance(value, bool) and pattern == str(value).lower()
    text = value if isinstance(value, str) else str(value)
    return pattern == text if isinstance(pattern, str) else pattern.fullmatch(text) is not None


@dataclass(frozen=True)
class Rule:
    """Every attribute named must match (exact value, or a glob with `*`, `?`, `[...]`); then `project`."""

    project: str
    resource: tuple[tuple[str, re.Pattern[str] | str], ...] = ()
    span: tuple[tuple[str, re.Pattern[str] | str], ...] = ()

    def matches(self, resource: Mapping[str, Any], root: Mapping[str, Any], spans: Sequence[SpanView]) -> bool:
        for key, pattern in self.resource:
            if not _matches(pattern, resource.get(key)):
                return False
        for key, pattern in self.span:
            value = root[key] if key in root else next((s.attributes[key] for s in spans if key in s.attributes), None)
            if not _matches(pattern, value):
                return False
        return True


@dataclass(frozen=True)
class RoutingTable:
    """Ordered rules → project; `default` for what no rule matches when `unrouted` is "default"; `keys`: every
    project's API key. Build it with `RoutingTable.parse`."""

    rules: tuple[Rule, ...]
    default: str | None
    unrouted: Literal["default", "refuse"]
    keys: Mapping[str, Secret] = field(repr=False)
    where: str = "routing"
    """Where the table came from (a file's name), for messages."""

    def __repr__(self) -> str:
        return (f"RoutingTable({len(self.rules)} rules, projects={sorted(self.keys)}, default={self.default!r}, "
                f"unrouted={self.unrouted!r})")

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(sorted(self.keys))

    def key_for(self, project: object) -> Secret | None:
        """The API key of `project`; None for a project the table does not know (never another's key)."""
        return self.keys.get(project) if isinstance(project, str) else None

    def project_for(self, spans: Sequence[SpanView]) -> str | None:
        """The project of a trace's spans (see the module docstring); None: refused (no rule matched and
        `unrouted` is "refuse")."""
        root = _root(spans)
        resource = root.resource
        attributes = root.attributes
        for rule in self.rules:
            if rule.matches(resource, attributes, spans):
                return rule.project
        return self.default if self.unrouted == "default" else None

    def project_for_resource(self, resource: Mapping[str, Any]) -> str | None:
        """The project of what carries only a resource (a log record whose trace was never mapped here): the first
        rule that matches it, when no earlier rule needs span attributes to be ruled out; None when the resource
        alone cannot tell (a span rule comes first, or nothing matches and unrouted traces are refused)."""
        for rule in self.rules:
            if not all(_matches(pattern, resource.get(key)) for key, pattern in rule.resource):
                continue
            return None if rule.span else rule.project
        return self.default if self.unrouted == "default" else None

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, where: str = "routing", environ: Mapping[str, str] | None = None,
        fallback_key: Secret | None = None,
    ) -> RoutingTable:
        """The `[routing]` table of a config file (or the same mapping given to the exporter's `routes=`),
        checked. `where` prefixes every message (`routes.toml: routing.rules[1].project: ...`). `fallback_key`:
        the process's own API key (`--api-key`, `HH_API_KEY`), used for the default project when the table
        names no key for it. Environment variables are read now: a missing one fails at start-up."""
        env = os.environ if environ is None else environ

        def fail(path: str, problem: str) -> ValueError:
            return ValueError(f"{where}: {path}: {problem}")

        if not isinstance(data, Mapping):
            raise fail("routing", "must be a table")
        unknown = sorted(set(data) - TABLE_KEYS)
        if unknown:
            raise fail("routing", f"unknown key(s) {', '.join(map(repr, unknown))} (known: "
                       f"{', '.join(sorted(TABLE_KEYS))})")
        default = data.get("default")
        if default is not None and (not isinstance(default, str) or not default.strip()):
            raise fail("routing.default", "must be a project name")
        unrouted = data.get("unrouted", "default" if default else "refuse")
        if unrouted not in UNROUTED_CHOICES:
            raise fail("routing.unrouted", f"must be one of {', '.join(UNROUTED_CHOICES)}, got {unrouted!r}")
        if unrouted == "default" and not default:
            raise fail("routing.unrouted", "is 'default' but routing.default names no project")
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            raise fail("routing.rules", "must be a list of tables ([[routing.rules]])")
        rules = tuple(_rule(raw, f"routing.rules[{i}]", fail) for i, raw in enumerate(raw_rules))
        raw_projects = data.get("projects", {})
        if not isinstance(raw_projects, Mapping):
            raise fail("routing.projects", "must be a table of projects ([routing.projects.NAME])")
        keys: dict[str, Secret] = {}
        for name, spec in raw_projects.items():
            path = f"routing.projects.{name}"
            if not isinstance(spec, Mapping):
                raise fail(path, "must be a table with api_key_env (or api_key)")
            unknown = sorted(set(spec) - PROJECT_KEYS)
            if unknown:
                raise fail(path, f"unknown key(s) {', '.join(map(repr, unknown))} (known: api_key_env, api_key)")
            if "api_key_env" in spec and "api_key" in spec:
                raise fail(path, "give api_key_env or api_key, not both")
            if "api_key_env" in spec:
                variable = spec["api_key_env"]
                if not isinstance(variable, str) or not variable:
                    raise fail(f"{path}.api_key_env", "must name an environment variable")
                value = env.get(variable)
                if not value:
                    raise fail(f"{path}.api_key_env", f"environment variable {variable} is not set")
                keys[str(name)] = Secret(value)
            elif "api_key" in spec:
                value = spec["api_key"]
                if not isinstance(value, str) or not value:
                    raise fail(f"{path}.api_key", "must be a non-empty string")
                keys[str(name)] = Secret(value)
            else:
                raise fail(path, "has no key: give api_key_env (recommended) or api_key")
        if default and default not in keys:
            if fallback_key is None:
                raise fail("routing.default", f"project {default!r} has no key: add [routing.projects.{default}] "
                           "with api_key_env, or give the process its own key (--api-key, api_key=, HH_API_KEY)")
            keys[default] = fallback_key
        for i, rule in enumerate(rules):
            if rule.project not in keys:
                raise fail(f"routing.rules[{i}].project", f"project {rule.project!r} has no key: add "
                           f"[routing.projects.{rule.project}] with api_key_env")
        if not rules and not default:
            raise fail("routing", "has neither rules nor a default project")
        return cls(rules, default, "default" if unrouted == "default" else "refuse", keys, where)


def _rule(raw: object, path: str, fail: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise fail(path, "must be a table with project and resource or span")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise fail(path, f"unknown key(s) {', '.join(map(repr, unknown))} (known: project, resource, span)")
    project = raw.get("project")
    if not isinstance(project, str) or not project.strip():
        raise fail(f"{path}.project", "must be a project name")
    parts: dict[str, tuple[tuple[str, re.Pattern[str] | str], ...]] = {}
    for scope in ("resource", "span"):
        given = raw.get(scope, {})
        if not isinstance(given, Mapping):
            raise fail(f"{path}.{scope}", "must be a table of attribute = value (or glob)")
        pairs: list[tuple[str, re.Pattern[str] | str]] = []
        for key, value in given.items():
            if not isinstance(value, (str, int, float)):
                raise fail(f"{path}.{scope}.{key}", "must be a string (an exact value or a glob), a number or a "
                           "boolean")
            text = str(value).lower() if isinstance(value, bool) else str(value)
            try:
                pairs.append((str(key), _pattern(text, "")))
            except ValueError as exc:
                raise fail(f"{path}.{scope}.{key}", str(exc).removeprefix(": ")) from None
        parts[scope] = tuple(pairs)
    if not parts["resource"] and not parts["span"]:
        raise fail(path, "matches nothing: give resource = {...} or span = {...}")
    return Rule(project, parts["resource"], parts["span"])


def _root(spans: Sequence[SpanView]) -> SpanView:
    """The trace's root, else its earliest local root, else its earliest span."""
    for span in spans:
        if span.parent_span_id == 0:
            return span
    return min(spans, key=lambda s: (not s.parent_is_remote, s.start_ns))


class TraceRouter:
    """A `RoutingTable` applied to traces, remembering each trace's decision (a trace shipped in parts goes to one
    project) and logging each refused `service.name` once. Thread-safe."""

    def __init__(self, table: RoutingTable, memory_traces: int = MEMORY_TRACES) -> None:
        self.table = table
        self._decided: OrderedDict[int, str | None] = OrderedDict()
        self._memory_traces = memory_traces
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def project_for(self, spans: Sequence[SpanView]) -> str | None:
        """The project of these spans' trace; None when it is refused (unrouted)."""
        trace_id = spans[0].trace_id
        with self._lock:
            if trace_id in self._decided:
                self._decided.move_to_end(trace_id)
                return self._decided[trace_id]
        project = self.table.project_for(spans)
        with self._lock:
            self._decided[trace_id] = project
            if len(self._decided) > self._memory_traces:
                self._decided.popitem(last=False)
        if project is None:
            self._log_refused(spans)
        return project

    def decided(self, trace_id: int, resource: Mapping[str, Any]) -> str | None:
        """The project this trace was routed to, remembered; for a trace never routed here, what `resource` alone
        says (`RoutingTable.project_for_resource`). None: refused, or not known."""
        with self._lock:
            if trace_id in self._decided:
                return self._decided[trace_id]
        return self.table.project_for_resource(resource)

    def _log_refused(self, spans: Sequence[SpanView]) -> None:
        """Once per distinct `service.name` (a service's name, not data): other attribute values may be secret."""
        service = _root(spans).resource.get("service.name")
        name = service if isinstance(service, str) else "(no service.name)"
        with self._lock:
            if name in self._logged or len(self._logged) >= LOGGED_VALUES:
                return
            self._logged.add(name)
        logger.warning("a trace of service.name=%r matched no routing rule (%s) and unrouted traces are refused: "
                       "it is dropped (counted as spans_dropped{reason=\"unrouted\"}); further traces of this "
                       "service are dropped silently", name[:200], self.table.where)

    def unkeyed(self, events: Sequence[Mapping[str, Any]]) -> SendResult | None:
        """For events that arrive as events (the HoneyHive-compatible API): a refusal naming the projects among
        them that the table has no key for (no project at all included), else None. Refused as they arrive, they
        are never spooled, where they would wait at the head of the queue until the table changed."""
        missing = {str(e.get("project")) for e in events if self.table.key_for(e.get("project")) is None}
        if not missing:
            return None
        return SendResult(Outcome.REJECTED, f"events of project(s) {', '.join(sorted(missing))} refused: the routing "
                          f"table ({self.table.where}) has no API key for them (projects: "
                          f"{', '.join(self.table.projects)})")

    def after_fork_in_child(self) -> None:
        """A new lock: the parent's may have been held by a thread that does not exist in the child."""
        self._lock = threading.Lock()


__all__ = ["RoutingTable", "Rule", "TraceRouter"]
