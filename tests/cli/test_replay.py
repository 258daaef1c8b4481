"""`otel-honeyhive replay`: files shipped to a real bridge server (its HoneyHive-compatible API, OTLP/HTTP and
OTLP/gRPC), resumed after a refused batch and after a kill, in bounded memory for 100,000 events.

Targets are real servers on 127.0.0.1: `otel-honeyhive serve` with its SQLite store, and, where a test must
script failures or count requests, the fake HoneyHive of tests/support/fake_honeyhive.py.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from otel_honeyhive import spans_to_events
from otel_honeyhive.outputs.files import spans_to_otlp_json
from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.event_files import (
    Event,
    assert_same_events,
    read_ndjson,
    run_cli,
    sdk_spans,
    start_cli,
    stream_events,
    write_json_array,
    write_ndjson,
)
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.server import run_server
from tests.support.waiting import wait_until

SECRET = "hh-secret-key-2b7e151628aed2a6"


def stored_events(db: Path) -> list[Event]:
    """Every event the server's store holds (read-only, while the server writes)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        ids = [event_id for (event_id,) in conn.execute("SELECT event_id FROM events")]
    finally:
        conn.close()
    with SQLiteStore(db, readonly=True) as store:
        return [event for event in map(store.get_event, ids) if event is not None]


def stored_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def state_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def line_offsets(path: Path) -> list[int]:
    """The byte offset after each line."""
    offsets, total = [], 0
    with path.open("rb") as f:
        for line in f:
            total += len(line)
            offsets.append(total)
    return offsets


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.ndjson"
    write_ndjson(path, stream_events(1000, seed=21))
    return path


# -- to a real server ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_events_file_to_the_honeyhive_api(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    write_json_array(path, stream_events(1500, seed=1), wrapper=True)
    with run_server(tmp_path) as server:
        result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", server.url, "--batch-size", "200")
    assert result.returncode == 0, result.stderr
    assert "1500 events in 8 batches" in result.stderr
    assert_same_events(stored_events(server.db_path), stream_events(1500, seed=1))
    state = state_of(tmp_path / "events.json.replay-state.json")
    assert state["complete"] and state["events_sent"] == 1500 and state["offset"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_events_file_to_an_otlp_endpoint(tmp_path: Path, protocol: str) -> None:
    """Events go out as spans and the bridge maps them back: the store holds the very same events."""
    path = tmp_path / "events.json.gz"
    write_json_array(path, stream_events(1200, seed=2), indent=True)
    with run_server(tmp_path, grpc=protocol == "grpc") as server:
        endpoint = server.grpc_target if protocol == "grpc" else server.url
        result = run_cli("replay", str(path), "--to", "otlp", "--otlp-endpoint", endpoint, "--otlp-protocol",
                         protocol, "--otlp-header", f"x-api-key={SECRET}")
        assert result.returncode == 0, result.stderr
    # Stopped: the server has handed on every span it held waiting for a trace's root.
    assert_same_events(stored_events(server.db_path), stream_events(1200, seed=2))
    assert SECRET not in result.stderr + (tmp_path / "events.json.gz.replay-state.json").read_text()


@pytest.mark.slow
def test_otlp_file_to_the_honeyhive_api_gives_the_mapped_events(tmp_path: Path) -> None:
    spans = sdk_spans(10, seed=4)
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(spans[i:i + 7])) + b"\n"
                              for i in range(0, len(spans), 7)))
    with run_server(tmp_path) as server:
        result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", server.url, "--source", "ci",
                         "--batch-size", "5")
    assert result.returncode == 0, result.stderr
    assert_same_events(stored_events(server.db_path), spans_to_events(spans, source="ci"))
    assert state_of(tmp_path / "traces.otlp.jsonl.replay-state.json")["items"] == len(path.read_bytes().splitlines())


# -- resuming --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_otlp_file_is_filtered_as_convert_filters_it(tmp_path: Path) -> None:
    """`--drop-span` / `--drop-scope` / `--span-filter` as `convert` and `serve` take them: the spans dropped,
    their children under the nearest kept ancestor."""
    spans = sdk_spans(6, seed=5)
    dropped = {span.name for span in spans if span.parent is not None}
    name = sorted(dropped)[0]
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(orjson.dumps(spans_to_otlp_json(spans)) + b"\n")
    with run_server(tmp_path) as server:
        result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", server.url, "--drop-span", name)
    assert result.returncode == 0, result.stderr
    expected = spans_to_events(spans, span_filter=lambda span: span.name != name)
    assert len(expected) < len(spans)
    assert_same_events(stored_events(server.db_path), expected)


@pytest.mark.slow
def test_a_refused_batch_stops_the_replay_and_the_next_run_resumes_after_the_last_delivered(
    tmp_path: Path, events_file: Path, honeyhive: FakeHoneyHive
) -> None:
    events = read_ndjson(events_file)
    honeyhive.then(Reply(200), Reply(200), Reply(200))
    honeyhive.default = Reply(400, body=b'{"error": "quota exceeded"}')
    args = ("replay", str(events_file), "--to", "honeyhive", "--server-url", honeyhive.url, "--api-key", SECRET,
            "--batch-size", "100")
    first = run_cli(*args)
    assert first.returncode == 1
    assert "stopped: a batch of 100 events was not delivered (rejected: POST" in first.stderr
    assert "HTTP 400" in first.stderr and "quota exceeded" in first.stderr
    assert "300 events were delivered so far" in first.stderr
    assert "running the same command again resumes" in first.stderr
    state_path = tmp_path / "events.ndjson.replay-state.json"
    state = state_of(state_path)
    assert (state["offset"], state["line"], state["items"], state["events_sent"]) == (
        line_offsets(events_file)[299], 301, 300, 300)
    assert not state["complete"]
    assert len(honeyhive.batches) == 4

    honeyhive.default = Reply(200)
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert f"resuming {events_file} at byte {state['offset']} (line 301, 300 events already delivered)" in second.stderr
    resumed = honeyhive.batches[4:]
    assert len(resumed) == 7  # 700 events left, 100 per batch: nothing before the stored offset is sent again
    assert resumed[0].body["events"][0]["event_id"] == events[300]["event_id"]
    assert_same_events(honeyhive.events, events)
    assert state_of(state_path)["complete"] and state_of(state_path)["events_sent"] == 1000

    # The API key went to the server, and nowhere else.
    assert {r.headers["Authorization"] for r in honeyhive.batches} == {f"Bearer {SECRET}"}
    for text in (first.stdout, first.stderr, second.stdout, second.stderr, state_path.read_text()):
        assert SECRET not in text


@pytest.mark.slow
def test_an_otlp_replay_resumes_only_where_no_span_is_held(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    """Two spans per line, so most lines end in the middle of a trace. The stored position is always the end of
    a line after which nothing was held, so the resumed run loses no span: every event arrives."""
    spans = sdk_spans(10, seed=8)
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(spans[i:i + 2])) + b"\n"
                              for i in range(0, len(spans), 2)))
    # Lines after which every trace begun so far has had its root: the only places a replay may resume.
    clean = [k for k in range(len(spans) // 2)
             if {s.context.trace_id for s in spans[:2 * k + 2]}
             == {s.context.trace_id for s in spans[:2 * k + 2] if s.parent is None}]
    assert len(clean) >= 2 and clean[0] + 1 < len(spans) // 2
    batches_ok = (2 * clean[0] + 2) // 4 + 1  # enough batches to cover the first clean line, and then some
    honeyhive.then(*[Reply(200)] * batches_ok)
    honeyhive.default = Reply(400)
    args = ("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--batch-size", "4")
    assert run_cli(*args).returncode == 1
    state = state_of(tmp_path / "traces.otlp.jsonl.replay-state.json")
    assert state["items"] - 1 in clean and state["offset"] == line_offsets(path)[state["items"] - 1]
    assert state["events_sent"] == 2 * state["items"] <= 4 * batches_ok

    honeyhive.default = Reply(200)
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert f"at byte {state['offset']}" in second.stderr
    expected = spans_to_events(spans)
    resent = sum(len(r.body["events"]) for r in honeyhive.batches[batches_ok + 1:])
    assert resent == len(expected) - state["events_sent"]
    assert_same_events({e["event_id"]: e for e in honeyhive.events}.values(), expected)


def test_a_batch_still_failing_at_its_deadline_stops_the_replay(
    tmp_path: Path, events_file: Path, honeyhive: FakeHoneyHive
) -> None:
    honeyhive.default = Reply(503)  # the next try (after 1 s) would pass the deadline
    result = run_cli("replay", str(events_file), "--to", "honeyhive", "--server-url", honeyhive.url,
                     "--timeout", "0.5", "--batch-size", "100")
    assert result.returncode == 1
    assert "was not delivered (retry_later:" in result.stderr and "HTTP 503" in result.stderr
    assert "0 events were delivered so far" in result.stderr and len(honeyhive.batches) == 1
    state = state_of(tmp_path / "events.ndjson.replay-state.json")
    assert (state["offset"], state["events_sent"]) == (0, 0)


def test_a_batch_failing_after_some_of_its_bodies_counts_those_delivered(
    tmp_path: Path, events_file: Path, honeyhive: FakeHoneyHive
) -> None:
    """A batch of 100 goes as bodies of 30, 30, 30 and 10 events; the third is refused: the 60 events of the first
    two arrived, and the message says so."""
    honeyhive.then(Reply(200), Reply(200), Reply(400, body=b'{"error": "bad event"}'))
    result = run_cli("replay", str(events_file), "--to", "honeyhive", "--server-url", honeyhive.url,
                     "--batch-size", "100", env={"HH_MAX_EVENTS_PER_REQUEST": "30"})
    assert result.returncode == 1
    assert len(honeyhive.events) == 60
    assert "stopped: 40 of a batch of 100 events were not delivered (rejected:" in result.stderr
    assert "60 events were delivered so far" in result.stderr
    assert state_of(tmp_path / "events.ndjson.replay-state.json")["events_sent"] == 0, "resumed from the start"


@pytest.mark.slow  # 20,000 events, a replay killed, run again
def test_a_killed_replay_resumes_at_the_stored_offset_and_every_event_arrives(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    write_ndjson(path, stream_events(20_000, seed=9))
    state_path = tmp_path / "events.ndjson.replay-state.json"
    with run_server(tmp_path) as server:
        args = ("replay", str(path), "--to", "honeyhive", "--server-url", server.url, "--batch-size", "50")
        proc = start_cli(*args)

        def sent_2000() -> bool:
            assert proc.poll() is None, "the replay ended before it was killed"
            return state_path.exists() and state_of(state_path)["events_sent"] >= 2000

        wait_until(sent_2000, 30, explain="the replay's state to record 2000 events sent", interval=0.01)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        state = state_of(state_path)
        assert 2000 <= state["events_sent"] < 20_000 and state["events_sent"] % 50 == 0
        assert state["offset"] == line_offsets(path)[state["events_sent"] - 1]

        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert f"at byte {state['offset']} (line {state['events_sent'] + 1}," in result.stderr
        left = 20_000 - state["events_sent"]
        assert f"{left} events in {left // 50} batches" in result.stderr
        assert_same_events(stored_events(server.db_path), stream_events(20_000, seed=9))


@pytest.mark.slow
def test_resume_only_for_the_same_unchanged_file_and_target(
    tmp_path: Path, events_file: Path, honeyhive: FakeHoneyHive
) -> None:
    args = ("replay", str(events_file), "--to", "honeyhive", "--server-url", honeyhive.url, "--batch-size", "500")
    assert run_cli(*args).returncode == 0
    assert len(honeyhive.batches) == 2

    again = run_cli(*args)
    assert again.returncode == 0 and "nothing to do" in again.stderr and "--no-resume" in again.stderr
    assert len(honeyhive.batches) == 2

    forced = run_cli(*args, "--no-resume")
    assert forced.returncode == 0 and len(honeyhive.batches) == 4

    other_url = honeyhive.url.replace("127.0.0.1", "localhost")
    other_target = run_cli(*args[:-4], "--server-url", other_url, "--batch-size", "500")
    assert "is for another target" in other_target.stderr and len(honeyhive.batches) == 6

    with events_file.open("ab") as f:
        f.write(orjson.dumps(next(iter(stream_events(1, seed=99)))) + b"\n")
    changed = run_cli(*args)
    assert changed.returncode == 0
    assert "changed since the replay state" in changed.stderr and "starting from the beginning" in changed.stderr
    assert len(honeyhive.batches) == 9 and len(honeyhive.batches[-1].body["events"]) == 1

    custom = tmp_path / "elsewhere" / "state.json"
    custom.parent.mkdir()
    assert run_cli(*args, "--state", str(custom)).returncode == 0
    assert state_of(custom)["complete"] and len(honeyhive.batches) == 12

    edited = state_of(custom)  # an edited (or corrupted) state pointing past the file's end
    edited.update(offset=edited["size"] + 10, complete=False)
    custom.write_bytes(orjson.dumps(edited))
    past_end = run_cli(*args, "--state", str(custom))
    assert past_end.returncode == 0 and "points outside" in past_end.stderr and len(honeyhive.batches) == 15


def test_bad_line_mid_file_stops_after_the_delivered_batches(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    path = tmp_path / "events.ndjson"
    events = list(stream_events(260, seed=5))
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events[:250]) + b"{oops\n"
                     + b"".join(orjson.dumps(e) + b"\n" for e in events[250:]))
    result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--batch-size", "100",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert f"{path}:251: not JSON (" in result.stderr and "200 events before it were delivered" in result.stderr
    assert len(honeyhive.events) == 200
    assert state_of(tmp_path / "events.ndjson.replay-state.json")["events_sent"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "honeyhive"], "--to honeyhive needs --api-key"),
        (["--to", "otlp"], "--to otlp needs --otlp-endpoint"),
        (["--to", "otlp", "--otlp-endpoint", "http://127.0.0.1:1", "--otlp-header", "novalue"],
         "--otlp-header must be KEY=VALUE"),
        (["--to", "honeyhive", "--server-url", "ftp://x"], "server URL must start with http"),
        (["--to", "honeyhive", "--server-url", "http://127.0.0.1:9", "--drop-span", "x"],
         "--drop-span: spans are filtered when OTLP input is mapped to events;"),
    ],
)
def test_usage_errors(events_file: Path, args: list[str], message: str) -> None:
    result = run_cli("replay", str(events_file), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_progress_bar_on_a_terminal(tmp_path: Path, events_file: Path, honeyhive: FakeHoneyHive) -> None:
    """On a TTY, stderr shows a progress bar (bytes read, events, events/s); without one (every other test),
    nothing but the summary."""
    leader, follower = pty.openpty()
    try:
        proc = start_cli("replay", str(events_file), "--to", "honeyhive", "--server-url", honeyhive.url,
                         stderr=follower)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(30) == 0
    finally:
        os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    size_kb = events_file.stat().st_size / 1000
    assert "events.ndjson → honeyhive" in text
    assert re.search(rf"100%\s+{size_kb:.1f}/{size_kb:.1f}\b.*\b1,000 events", text), text


# -- 100,000 events in bounded memory -------------------------------------------------------------------------------


@pytest.mark.slow  # 100,000 events through a real server
def test_100k_events_replay_in_bounded_memory(tmp_path: Path) -> None:
    count = 100_000
    path = tmp_path / "big.ndjson"
    assert write_ndjson(path, stream_events(count, seed=6, payload=1500)) == count
    size = path.stat().st_size
    assert size > 150 * 1024 * 1024
    with run_server(tmp_path) as server:
        result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", server.url, timeout=60)
        assert result.returncode == 0, result.stderr
        assert stored_count(server.db_path) == count
    print(f"\nreplay 100k events: file {size / 2**20:.0f} MiB, peak RSS {result.peak_rss / 2**20:.0f} MiB")
    assert result.peak_rss < 0.4 * size
    assert result.peak_rss < 300 * 1024 * 1024
    assert state_of(tmp_path / "big.ndjson.replay-state.json")["events_sent"] == count


def test_spans_an_otlp_receiver_rejects_in_partial_success_make_the_replay_fail(tmp_path: Path) -> None:
    """The receiver answered 200 but dropped some spans (`partial_success`): sending them again cannot help, but
    the replay must not report every event delivered with exit status 0."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    from tests.support.fake_otlp import Reply as OtlpReply
    from tests.support.fake_otlp import fake_otlp_http

    path = tmp_path / "events.ndjson"
    write_ndjson(path, stream_events(30, seed=4))
    answer = ExportTraceServiceResponse()
    answer.partial_success.rejected_spans = 2
    answer.partial_success.error_message = "spans older than 7 days"
    with fake_otlp_http() as fake:
        fake.then(OtlpReply(body=answer.SerializeToString()))
        result = run_cli("replay", str(path), "--to", "otlp", "--otlp-endpoint", fake.url, "--batch-size", "10")
    assert result.returncode == 1, result.stderr
    assert "2 spans" in result.stderr and "spans older than 7 days" in result.stderr
    assert "rejected" in result.stderr.splitlines()[-1]
