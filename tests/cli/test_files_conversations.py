"""`convert` and `replay` with `--sessions conversation` (docs/identity-and-assembly.md#conversations): an OTLP
file holding the turns of conversations, one trace per turn, becomes one session per conversation, as through
the exporter and `serve`. `convert` writes each conversation's session event once, with its last turn's end; a
replay sends the extension as the session event again (same id) and the store keeps one session; the sessions
mode is part of a replay's state."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.cli.main import main
from otel_honeyhive.core.events import Event
from otel_honeyhive.mapper.identity import session_id_for_conversation
from otel_honeyhive.outputs.files import spans_to_otlp_json
from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.event_files import read_ndjson, run_cli
from tests.support.server import run_server
from tests.support.spans import Recorder

S = 1_000_000_000
EPOCH = 1_796_000_000  # seconds (2026): event times in milliseconds, as spans give them, not read as seconds
CONVERSATIONS = ("support-chat-7", "support-chat-8")


def turns(recorder: Recorder, conversation: str, count: int, first_at: int) -> list[list[ReadableSpan]]:
    """`count` turns of `conversation` (OpenInference's `session.id` on the chat span), one trace each, a minute
    apart from `first_at` seconds: each a `turn N` root with a chat child."""
    traces = []
    for n in range(1, count + 1):
        start = (EPOCH + first_at + 60 * n) * S
        root = recorder.tracer.start_span(f"turn {n}", start_time=start)
        child = recorder.tracer.start_span(
            "chat gpt-4o", context=trace.set_span_in_context(root), start_time=start + S // 10,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                        "session.id": conversation, "user.id": "ada"},
        )
        child.end(end_time=start + 2 * S)
        root.end(end_time=start + 3 * S)
        traces.append(recorder.spans())
        recorder.memory.clear()
    return traces


def write_file(path: Path) -> None:
    """Two conversations of three turns, interleaved, one trace per line (as a file exporter writes them), and
    one trace with no conversation id."""
    recorder = Recorder("chat-app")
    first, second = (turns(recorder, conversation, 3, 30 * i) for i, conversation in enumerate(CONVERSATIONS))
    lone = turns(recorder, "", 1, 500)
    lines = [spans for pair in zip(first, second, strict=True) for spans in pair] + lone
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(spans)) + b"\n" for spans in lines))


def assert_one_session_per_conversation(events: list[Event]) -> None:
    for index, conversation in enumerate(CONVERSATIONS):
        session_id = session_id_for_conversation(conversation)
        ours = [e for e in events if e["session_id"] == session_id]
        sessions = [e for e in ours if e["event_type"] == "session"]
        assert len(sessions) == 1, conversation
        (session,) = sessions
        roots = sorted((e for e in ours if e["parent_id"] == session_id), key=lambda e: e["start_time"])
        assert [(r["event_name"], r["event_type"]) for r in roots] == [(f"turn {n}", "chain") for n in (1, 2, 3)]
        assert session["event_id"] == session_id and session["metadata"]["conversation_id"] == conversation
        first_turn_start = (EPOCH + 30 * index + 60) * 1000
        assert session["start_time"] == first_turn_start
        assert session["end_time"] == roots[-1]["end_time"] == first_turn_start + 120_000 + 3_000
        assert session["duration"] == session["end_time"] - session["start_time"]
        ids = {e["event_id"] for e in ours}
        assert all(e["parent_id"] in ids for e in ours if e["event_type"] != "session")
        assert len(ours) == 1 + 3 * 2


def test_convert_writes_each_conversation_once_with_its_last_turns_end(tmp_path: Path) -> None:
    source, out = tmp_path / "traces.otlp.jsonl", tmp_path / "events.ndjson"
    write_file(source)
    assert main(["convert", "-q", str(source), str(out), "--sessions", "conversation"]) == 0
    events = read_ndjson(out)
    assert_one_session_per_conversation(events)
    assert len(events) == len({e["event_id"] for e in events}) == 2 * 7 + 2  # the lone trace: its own session
    for conversation in CONVERSATIONS:
        (session,) = [e for e in events if e["event_id"] == session_id_for_conversation(conversation)]
        turn_ids = [e["event_id"] for e in events if e["parent_id"] == session["event_id"]]
        assert sorted(session["children_ids"]) == sorted(turn_ids)  # every turn, not only the first


def test_convert_takes_the_mode_from_hh_sessions_and_keeps_trace_as_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "traces.otlp.jsonl"
    write_file(source)
    assert main(["convert", "-q", str(source), str(tmp_path / "traces.ndjson")]) == 0
    by_trace = read_ndjson(tmp_path / "traces.ndjson")
    assert sum(e["event_type"] == "session" for e in by_trace) == 7  # one per trace
    monkeypatch.setenv("HH_SESSIONS", "conversation")
    assert main(["convert", "-q", str(source), str(tmp_path / "conversations.ndjson")]) == 0
    assert_one_session_per_conversation(read_ndjson(tmp_path / "conversations.ndjson"))


def test_convert_refuses_sessions_where_none_are_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, out = tmp_path / "events.ndjson", tmp_path / "out.otlp.jsonl"
    events.write_bytes(b"")
    assert main(["convert", str(events), str(out), "--sessions", "conversation"]) == 2
    assert ("--sessions: sessions are made when OTLP input is converted to events; this is ndjson to "
            "otlp-jsonl") in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):  # argparse: exit status 2, naming the choices
        main(["convert", str(events), str(out), "--sessions", "chat"])
    assert "invalid choice: 'chat'" in capsys.readouterr().err


@pytest.mark.slow
def test_replay_gives_the_store_one_session_per_conversation(tmp_path: Path) -> None:
    source = tmp_path / "traces.otlp.jsonl"
    write_file(source)
    with run_server(tmp_path) as server:
        result = run_cli("replay", str(source), "--to", "honeyhive", "--server-url", server.url,
                         "--sessions", "conversation", "--batch-size", "4")
        assert result.returncode == 0, result.stderr
        with SQLiteStore(server.db_path, readonly=True) as store:
            events = [e for s in store.list_sessions(limit=100) for e in store.session_events(s.session_id)]
            summaries = {s.session_id: s for s in store.list_sessions(limit=100)}
    assert_one_session_per_conversation(events)
    for conversation in CONVERSATIONS:
        summary = summaries[session_id_for_conversation(conversation)]
        assert (summary.events, summary.name, summary.user_id) == (6, "turn 1", "ada")  # the turns' events
    state = orjson.loads((tmp_path / "traces.otlp.jsonl.replay-state.json").read_bytes())
    assert state["complete"] and "--sessions conversation" in state["options"]


@pytest.mark.slow
def test_a_replay_state_of_another_sessions_mode_starts_over(tmp_path: Path) -> None:
    source = tmp_path / "traces.otlp.jsonl"
    write_file(source)
    with run_server(tmp_path) as server:
        first = run_cli("replay", str(source), "--to", "honeyhive", "--server-url", server.url)
        assert first.returncode == 0, first.stderr
        again = run_cli("replay", str(source), "--to", "honeyhive", "--server-url", server.url,
                        "--sessions", "conversation")
    assert again.returncode == 0, again.stderr
    assert ("was made with other options (--sessions trace --source dev, not --sessions conversation --source "
            "dev); starting from the beginning") in again.stderr
    assert "nothing to do" not in again.stderr


def test_replay_refuses_sessions_for_an_events_file(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"")
    result = run_cli("replay", str(events), "--to", "honeyhive", "--server-url", "http://127.0.0.1:9",
                     "--sessions", "conversation")
    assert result.returncode == 2
    assert "--sessions: sessions are made when OTLP input is mapped to events" in result.stderr


def test_sessions_held_to_the_end_are_bounded_and_the_least_recently_extended_goes_first() -> None:
    """Past the limit (the mapper's own: it forgets in the same order and starts such a session anew), the
    oldest held session is given at once; a later copy of it is given again at the end, the same id."""
    from otel_honeyhive.core.results import Update
    from otel_honeyhive.inputs.files.stream import _SessionEvents

    t0 = 1_796_000_000_000  # milliseconds (2026)

    def session(event_id: str, end: int) -> Event:
        return {"event_id": event_id, "event_type": "session", "start_time": t0, "end_time": t0 + end,
                "children_ids": [], "metadata": {"conversation_id": "c"}}

    held = _SessionEvents(at_end=True, limit=1)
    child = {"event_id": "x", "event_type": "model", "parent_id": "a", "metadata": {}}
    assert held.merged([session("a", 1), child], []) == [child] and held.holding
    assert held.merged([session("b", 2)], []) == [session("a", 1)]
    assert held.merged([session("a", 3)], []) == [session("b", 2)]
    assert held.merged([child], [Update("a", {"end_time": t0 + 4})]) == [child]  # extended, still held
    assert held.remaining() == [{**session("a", 4), "duration": 4, "children_ids": ["x"]}]
    assert held.remaining() == [] and not held.holding


def _conversation_spans() -> list[ReadableSpan]:
    """Both conversations' turns and the lone trace, in the order the app exported them (children first)."""
    recorder = Recorder("chat-app")
    first, second = (turns(recorder, conversation, 3, 30 * i) for i, conversation in enumerate(CONVERSATIONS))
    return [span for pair in zip(first, second, strict=True) for spans in pair for span in spans] + [
        span for spans in turns(recorder, "", 1, 500) for span in spans]


SPANS = _conversation_spans()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 4), min_size=len(SPANS), max_size=len(SPANS)))
def test_convert_gives_what_spans_to_events_gives_however_the_lines_split_the_turns(
    tmp_path: Path, sizes: list[int]
) -> None:
    """The file's lines cut the export stream anywhere (a turn's spans over several lines, two turns in one):
    the events are those of `spans_to_events(spans, sessions="conversation")`, each session once, final."""
    lines, at = [], 0
    for size in sizes:
        if at >= len(SPANS):
            break
        lines.append(SPANS[at:at + size])
        at += size
    source, out = tmp_path / f"traces-{len(lines)}.otlp.jsonl", tmp_path / f"events-{len(lines)}.ndjson"
    source.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(line)) + b"\n" for line in lines))
    assert main(["convert", "-q", str(source), str(out), "--sessions", "conversation"]) == 0
    written = read_ndjson(out)
    assert len(written) == len({e["event_id"] for e in written})
    expected = spans_to_events(SPANS, sessions="conversation")
    assert {e["event_id"]: e for e in written} == {e["event_id"]: e for e in expected}


@pytest.mark.slow
def test_a_replay_resumes_only_with_the_options_its_events_were_made_with(tmp_path: Path) -> None:
    """Another span filter, masking, project or source makes other events: the state records them (as flags,
    no secret) and a run with other ones starts over instead of mixing the two."""
    source = tmp_path / "traces.otlp.jsonl"
    write_file(source)
    state_path = tmp_path / "traces.otlp.jsonl.replay-state.json"
    with run_server(tmp_path) as server:
        base = ("replay", str(source), "--to", "honeyhive", "--server-url", server.url)
        first = run_cli(*base, "--drop-span", "chat*", "--redact", "email", "--project", "p1")
        assert first.returncode == 0, first.stderr
        assert orjson.loads(state_path.read_bytes())["options"] == [
            "--sessions trace", "--drop-span chat*", "--redact email", "--project p1", "--source dev"]
        same = run_cli(*base, "--drop-span", "chat*", "--redact", "email", "--project", "p1")
        other = run_cli(*base, "--redact", "email", "--project", "p1")
    assert "nothing to do" in same.stderr
    assert ("was made with other options (--sessions trace --drop-span chat* --redact email --project p1 --source "
            "dev, not --sessions trace --redact email --project p1 --source dev); starting from the beginning"
            ) in other.stderr
