"""Event and OTLP files for the `convert` / `replay` tests, and the CLI run as a measured subprocess.

Events are HoneyHive-shaped and complete (every field the HoneyHive-compatible API would otherwise fill in is
given), so what a server stores can be compared with the file field by field. Spans come from the real SDK.
Large files are written as a stream, never built in memory, and the CLI subprocess's peak memory is read from
the kernel (its VmHWM), so a memory bound is measured, not assumed.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from tests.support.spans import Recorder, chat_span

Event = dict[str, Any]
T0 = 1_714_978_764_000.0
_CHILD_TYPES = ("model", "tool", "chain")


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def session_events(rng: random.Random, index: int, children: int = 4, payload: int = 0) -> list[Event]:
    """One session: its session event first, then `children` events under it (the last one nested under the
    first child), with a text payload of about `payload` bytes each and strings that stress a JSON scanner."""
    session = uid(rng)
    start = T0 + index * 1000.0
    ids = [uid(rng) for _ in range(children)]
    text = "quote \" brace { } bracket [ ] backslash \\ tab \t unicode é ✓ " if index % 3 == 0 else "plain "
    filler = (text * (payload // len(text) + 1))[:payload] if payload else text
    out: list[Event] = [{
        "event_id": session, "session_id": session, "parent_id": None, "event_type": "session",
        "event_name": f"session-{index}", "source": "files-test", "project": "replay",
        "config": {}, "inputs": {"question": f"question {index}"}, "outputs": {"answer": filler[:40]},
        "error": None, "start_time": start, "end_time": start + 900.0, "duration": 900.0,
        "metadata": {"n": index}, "metrics": {}, "feedback": {}, "user_properties": {"user": "u1"},
        "children_ids": [i for i in ids[:-1]] if children else [],
    }]
    for c, event_id in enumerate(ids):
        parent = ids[0] if c == children - 1 and children > 1 else session
        event_type = _CHILD_TYPES[(index + c) % 3]
        event: Event = {
            "event_id": event_id, "session_id": session, "parent_id": parent, "event_type": event_type,
            "event_name": f"{event_type}-{c}", "source": "files-test", "project": "replay",
            "config": {"model": "gpt-4o", "temperature": 0.2} if event_type == "model" else {},
            "inputs": {"chat_history": [{"role": "user", "content": filler}]} if event_type == "model"
            else {"query": filler},
            "outputs": {"role": "assistant", "content": f"answer {index}.{c}"},
            "error": "RateLimitError: slow down" if (index + c) % 7 == 0 else None,
            "start_time": start + 10.0 * (c + 1), "end_time": start + 10.0 * (c + 1) + 5.5, "duration": 5.5,
            "metadata": {"prompt_tokens": 10 + c, "completion_tokens": 3} if event_type == "model" else {"c": c},
            "metrics": {}, "feedback": {}, "user_properties": {},
            "children_ids": [ids[-1]] if c == 0 and children > 1 else [],
        }
        out.append(event)
    return out


def stream_events(count: int, *, seed: int = 7, children: int = 4, payload: int = 0) -> Iterator[Event]:
    """Exactly `count` events, session by session, generated lazily."""
    rng = random.Random(seed)
    made = 0
    index = 0
    while made < count:
        for event in session_events(rng, index, children, payload):
            if made == count:
                return
            yield event
            made += 1
        index += 1


def _open(path: Path, mode: str = "wb") -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)


def write_ndjson(path: Path, events: Iterable[Event]) -> int:
    """Stream events into an NDJSON file (gzip when the name ends in .gz); the number written."""
    n = 0
    with _open(path) as f:
        for event in events:
            f.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
            n += 1
    return n


def write_json_array(path: Path, events: Iterable[Event], *, wrapper: bool = False, indent: bool = False) -> int:
    """Stream events into a JSON array (or a batch request `{"events": [...]}` when `wrapper`)."""
    n = 0
    with _open(path) as f:
        f.write(b'{"is_single_session": false, "session_properties": {"events": [1]}, "events": [' if wrapper
                else b"[")
        for event in events:
            if n:
                f.write(b",")
            f.write(orjson.dumps(event, option=orjson.OPT_INDENT_2 if indent else 0))
            n += 1
        f.write(b'], "tail": {"x": "]"}}\n' if wrapper else b"]\n")
    return n


def read_ndjson(path: Path) -> list[Event]:
    with _open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def read_events(path: Path) -> list[Event]:
    """Small events files only: NDJSON, or a JSON array read whole (an independent check of our reader)."""
    name = path.name.removesuffix(".gz")
    if name.endswith((".ndjson", ".jsonl")):
        return read_ndjson(path)
    with _open(path, "rb") as f:
        doc = orjson.loads(f.read())
    return list(doc["events"] if isinstance(doc, dict) else doc)


def by_id(events: Iterable[Event]) -> dict[str, Event]:
    out: dict[str, Event] = {}
    for event in events:
        assert event["event_id"] not in out, f"duplicate event {event['event_id']}"
        out[event["event_id"]] = event
    return out


def assert_same_events(got: Iterable[Event], expected: Iterable[Event]) -> None:
    """Same event ids, and every event equal field by field (the failure names the event and field)."""
    got_by_id, expected_by_id = by_id(got), by_id(expected)
    assert set(got_by_id) == set(expected_by_id), (
        f"missing {sorted(set(expected_by_id) - set(got_by_id))[:5]}, "
        f"unexpected {sorted(set(got_by_id) - set(expected_by_id))[:5]}"
    )
    for event_id, want in expected_by_id.items():
        have = got_by_id[event_id]
        for key in sorted(set(want) | set(have)):
            assert have.get(key, "<absent>") == want.get(key, "<absent>"), f"event {event_id} field {key}"


# -- spans ------------------------------------------------------------------------------------------------------


def sdk_spans(traces: int = 6, *, seed: int = 3) -> list[ReadableSpan]:
    """Spans from the real SDK, in the order an application exports them (children before their root):
    nested chains, LLM and tool spans, an error, span events, links, and one trace with an explicit
    HoneyHive session."""
    rng = random.Random(seed)
    recorder = Recorder("files-test", resource={"deployment": "ci"}, scope="tests.files", version="0.1")
    tracer = recorder.tracer
    for t in range(traces):
        with tracer.start_as_current_span(f"agent-{t}", context=trace.set_span_in_context(trace.INVALID_SPAN),
                                          kind=trace.SpanKind.SERVER) as root:
            root.set_attribute("traceloop.entity.input", orjson.dumps({"q": f"question {t}"}).decode())
            if t == 2:
                root.set_attribute("honeyhive.session_id", uid(rng))
            for c in range(rng.randint(1, 4)):
                with tracer.start_as_current_span(f"step-{c}") as step:
                    step.set_attribute("traceloop.span.kind", "task")
                    with chat_span(tracer, name="chat gpt-4o", kind=trace.SpanKind.CLIENT, attributes={
                        "gen_ai.usage.input_tokens": 12 + c, "gen_ai.usage.output_tokens": 5,
                        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": f"hello \"{t}.{c}\" {{json}}",
                    }) as llm:
                        llm.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop"})
                        if (t + c) % 5 == 4:
                            llm.set_status(Status(StatusCode.ERROR, "timeout"))
                    with tracer.start_as_current_span("search", links=[trace.Link(root.get_span_context())]) as tool:
                        tool.set_attribute("traceloop.span.kind", "tool")
                        tool.set_attribute("tags", ["a", "b"])
    return recorder.finish()


# -- the CLI as a measured subprocess ----------------------------------------------------------------------------


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int
    """Peak resident memory of the CLI process, in bytes (its VmHWM)."""


def cli_env() -> dict[str, str]:
    """The environment without a developer's HH_* settings (an HH_API_KEY would change the target)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}


_MEASURED = """
import runpy, sys
report = sys.argv.pop(1)
sys.argv[0] = "otel-honeyhive"
try:
    runpy.run_module("otel_honeyhive.cli", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")))
"""
"""`python -m otel_honeyhive.cli ARGS`, which also writes its peak resident memory (VmHWM) to a file on exit.

Why not rusage: Linux carries a process's memory high-water mark across fork and exec (`signal->maxrss`), so
a child of the test process reports at least the test process's own peak, whatever the CLI itself used.
VmHWM belongs to the address space the CLI's exec created, so it measures the CLI alone."""


def start_cli(*args: str, cwd: Path | None = None, stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
              report: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`otel-honeyhive ARGS` started in `cli_env()`, with `env` added (settings a test gives, such as HH_*)."""
    command = [sys.executable, "-c", _MEASURED, str(report)] if report else [sys.executable, "-m",
                                                                              "otel_honeyhive.cli"]
    return subprocess.Popen([*command, *args], stdout=stdout, stderr=stderr, env={**cli_env(), **(env or {})},
                            cwd=cwd)


def run_cli(*args: str, timeout: float = 120, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliRun:
    """Run `otel-honeyhive ARGS` to completion; its output, exit status and peak memory."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "vmhwm"
        proc = start_cli(*args, cwd=cwd, report=report, env=env)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        peak = int(report.read_text().split()[1]) * 1024 if report.exists() else 0
    return CliRun(proc.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"), peak)
