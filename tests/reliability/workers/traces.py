"""The trace every worker application makes for one unit of work (a request, a task), and what it reports about
it: its ids, from which the test derives the HoneyHive event ids that must arrive.

The shape is an LLM agent's (tests/support/spans.py): an agent root, a retrieval, a model call with a tool call
under it, and a final model call: `SPANS_PER_TRACE` spans.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opentelemetry import trace

from otel_honeyhive.mapper.identity import event_id_for_span, session_id_for_trace
from tests.support.spans import SPANS_PER_TRACE, agent_span, chat_span, retriever_span, tool_span, user_message

Report = dict[str, Any]
"""{"label", "pid", "trace_id" (32 hex), "root" (16 hex), "children" (16 hex each), "made_at" (time.time())}."""

__all__ = ["SPANS_PER_TRACE", "Report", "event_ids_of", "flush_provider", "make_trace", "traced_and_killed",
           "write_json"]

GO_SUFFIX = ".go"


def make_trace(tracer: trace.Tracer, label: str, *, work_seconds: float = 0.0) -> Report:
    """One agent trace of `SPANS_PER_TRACE` spans whose root carries `job.id` = `label`; `work_seconds` spent
    inside the model call (the work a request or task does). Its ids, once every span has ended."""
    children: list[trace.Span] = []
    with agent_span(tracer, f"job-{label}", f"question {label}") as root:
        root.set_attribute("job.id", label)
        with retriever_span(tracer, "a document " * 20) as retrieval:
            children.append(retrieval)
        with chat_span(tracer, attributes={"gen_ai.input.messages": user_message(f"prompt {label}"),
                                           "gen_ai.usage.input_tokens": 120}) as chat, tool_span(tracer) as tool:
            children += [chat, tool]
            if work_seconds:
                time.sleep(work_seconds)
        with chat_span(tracer, "gpt-4o-mini", name="answer") as answer:
            children.append(answer)
    context = root.get_span_context()
    return {
        "label": label,
        "pid": os.getpid(),
        "trace_id": f"{context.trace_id:032x}",
        "root": f"{context.span_id:016x}",
        "children": [f"{child.get_span_context().span_id:016x}" for child in children],
        "made_at": time.time(),
    }


def event_ids_of(reports: Iterable[Report]) -> set[str]:
    """The event ids the reported traces become (identity.py: the root is the session, `event_id == session_id`;
    every other span `uuid5(EVENT_NAMESPACE, trace id + span id)`)."""
    ids: set[str] = set()
    for report in reports:
        trace_id = int(report["trace_id"], 16)
        ids.add(session_id_for_trace(trace_id))
        ids.update(event_id_for_span(trace_id, int(span, 16)) for span in report["children"])
    return ids


def flush_provider(timeout_millis: int = 10_000) -> bool:
    """`force_flush()` on the global tracer provider: every span ended so far is handed to the exporter (which,
    with a spool, has it on disk when this returns). False when tracing is not set up."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    return bool(flush(timeout_millis)) if flush is not None else False


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as JSON to `path` atomically (readers never see half a file)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, target)


def traced_and_killed(label: str, report_path: str | os.PathLike[str], *, wait: float = 120.0) -> None:
    """The victim of a scenario's SIGKILL: wait for the file `<report_path>.go` (the test makes it while HoneyHive
    is down), make one trace, flush it (acknowledged: on disk in this process's spool, and undeliverable for now),
    write its report, with `flushed`, to `report_path`, and wait to be killed."""
    go = Path(f"{report_path}{GO_SUFFIX}")
    deadline = time.monotonic() + wait
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    report = make_trace(trace.get_tracer("tests.reliability.workers.victim"), label)
    report["flushed"] = flush_provider()
    write_json(report_path, report)
    time.sleep(300)  # until the test kills this process
