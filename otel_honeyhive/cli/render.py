"""How the CLI shows stored sessions: a table of sessions, one session as a tree of its events (with every
field of each event under `--full`), and one event in full.

Kept apart from argument parsing so the (rich) rendering is imported only by the commands that print.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from otel_honeyhive.core.durations import format_duration
from otel_honeyhive.core.durations import number as _number
from otel_honeyhive.core.events import Event, epoch_seconds
from otel_honeyhive.outputs.store import SessionSummary

_TYPE_STYLES = {"session": "bold magenta", "model": "cyan", "tool": "green", "chain": "yellow"}
_MAX_ERROR_CHARS = 80
_DETAIL_FIELDS = ("inputs", "outputs", "error", "config", "metadata", "metrics", "feedback", "user_properties")
"""What `--full` shows of an event, in this order (empty ones are left out)."""


def many(count: int, noun: str) -> str:
    """`1 record`, `2 records`, `1 dead letter`: a count with its noun agreeing."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def format_start(timestamp: Any) -> str:
    """Local time of an event timestamp. HoneyHive documents milliseconds, but its own examples also use
    seconds; a value below `SECONDS_BELOW` (in ms: March 1973) is read as seconds (`epoch_seconds`)."""
    value = _number(timestamp)
    if value is None:
        return "-"
    seconds = epoch_seconds(value)
    try:
        return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "-"


def sessions_table(sessions: Iterable[SessionSummary]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("session", no_wrap=True, min_width=36)
    table.add_column("name", overflow="fold")
    table.add_column("source", overflow="fold")
    table.add_column("start", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("events", justify="right")
    table.add_column("errors", justify="right")
    for s in sessions:
        table.add_row(
            s.session_id,
            s.name if s.name is not None else "-",
            s.source if s.source is not None else "-",
            format_start(s.start_time),
            format_duration(s.duration),
            str(s.events),
            Text(str(s.errors), style="red" if s.errors else ""),
        )
    return table


def _tokens(event: Event) -> int | None:
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        return None
    total = _number(metadata.get("total_tokens"))
    if total is None:
        parts = [_number(metadata.get(k)) for k in ("prompt_tokens", "completion_tokens")]
        known = [p for p in parts if p is not None]
        total = sum(known) if known else None
    return None if total is None else int(total)


def event_label(event: Event) -> Text:
    """`type name duration [model] [tokens] [error]`; user text is never read as markup."""
    kind = str(event.get("event_type", "?"))
    label = Text()
    label.append(kind, style=_TYPE_STYLES.get(kind, ""))
    label.append(" ")
    label.append(str(event.get("event_name", "unknown")), style="bold")
    label.append(f"  {format_duration(event.get('duration'))}", style="dim")
    config = event.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, str) and model:
        label.append(f"  {model}", style="cyan")
    tokens = _tokens(event)
    if tokens is not None:
        label.append(f"  {tokens} tokens", style="dim")
    error = event.get("error")
    if error not in (None, ""):
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else str(error)
        if len(first_line) > _MAX_ERROR_CHARS:
            first_line = first_line[: _MAX_ERROR_CHARS - 1] + "…"
        label.append(f"  error: {first_line}", style="bold red")
    return label


def event_fields(event: Event) -> list[RenderableType]:
    """The event's buckets and error, each as `name:` then its value (JSON, indented); text stays text."""
    shown: list[RenderableType] = []
    for name in _DETAIL_FIELDS:
        value = event.get(name)
        if value is None or value == "" or value == {} or value == []:
            continue
        if isinstance(value, str):
            shown.append(Text.assemble((f"{name}: ", "bold"), (value, "red" if name == "error" else "")))
        else:
            body = JSON.from_data(value, indent=2).text
            body.no_wrap, body.overflow = False, "fold"  # long prompts are shown whole, folded, never cut
            shown.append(Group(Text(f"{name}:", style="bold"), body))
    return shown


def event_detail(event: Event) -> RenderableType:
    """One event in full: its label, where it sits (ids, source, project, times), then every field."""
    where = Text(style="dim")
    for name in ("event_id", "session_id", "parent_id", "project", "source"):
        value = event.get(name)
        if value not in (None, ""):
            where.append(f"{name} {value}\n")
    where.append(f"start {format_start(event.get('start_time'))}  end {format_start(event.get('end_time'))}")
    return Group(event_label(event), where, *event_fields(event))


def _start_key(event: Event) -> tuple[bool, float]:
    """Start-time order; ties (same millisecond) keep the store's order, which is the order spans started."""
    start = _number(event.get("start_time"))
    return (start is None, start or 0.0)


def session_tree(session_id: str, events: Sequence[Event], *, full: bool = False) -> Tree:
    """The session as a tree: children under their parent in start-time order; events whose parent is not
    stored (orphans, or caught in a parent cycle) are shown under the session rather than hidden. `full`: each
    event's id and fields under it."""
    root_event = next(
        (e for e in events if e.get("event_type") == "session" and e.get("event_id") == session_id), None
    )
    if root_event is None:
        label = Text("session ", style=_TYPE_STYLES["session"]).append("(no session event)", style="dim")
    else:
        label = event_label(root_event)
    label.append(f"  {session_id}", style="dim")
    if root_event is not None:
        label.append(f"  {root_event.get('source', '-')}  {format_start(root_event.get('start_time'))}",
                     style="dim")
    metadata = root_event.get("metadata") if root_event is not None else None
    if isinstance(metadata, dict) and metadata.get("conversation_id") is not None:  # its turns are its children
        turns = sum(1 for e in events if e.get("parent_id") == session_id and e is not root_event)
        label.append(f"  conversation {metadata['conversation_id']}  {turns} turn{'s' if turns != 1 else ''}",
                     style="dim")
    tree = Tree(label)
    if full and root_event is not None:
        for field in event_fields(root_event):
            tree.add(field)

    others = [e for e in events if e is not root_event]
    known = {e.get("event_id") for e in others} | {session_id}
    children: dict[Any, list[Event]] = {}
    for event in others:
        parent = event.get("parent_id")
        key = parent if parent in known and parent != event.get("event_id") else session_id
        children.setdefault(key, []).append(event)
    for group in children.values():
        group.sort(key=_start_key)

    shown: set[int] = set()

    def attach(node: Tree, event: Event) -> None:
        stack = [(node, event)]
        while stack:
            parent_node, current = stack.pop()
            if id(current) in shown:
                continue
            shown.add(id(current))
            branch = parent_node.add(event_label(current))
            if full:
                branch.add(Text(f"id {current.get('event_id')}", style="dim"))
                for field in event_fields(current):
                    branch.add(field)
            for child in reversed(children.get(current.get("event_id"), [])):
                stack.append((branch, child))

    for event in children.get(session_id, []):
        attach(tree, event)
    for event in sorted(others, key=_start_key):
        if id(event) not in shown:
            attach(tree, event)
    return tree
