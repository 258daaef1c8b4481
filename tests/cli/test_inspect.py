"""Looking at what the local store holds: `sessions --json`, `show` with `--full`, `--json` or an event id, and
`export` to a file that round-trips through `convert`. Run as a user runs them: subprocesses on a real store
filled with the events real SDK spans map to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive import spans_to_events
from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.spans import llm_traces


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A store holding three agent traces (retriever, model call with messages and tokens, tool)."""
    events = spans_to_events(llm_traces(3), project="inspect")
    path = tmp_path / "events.db"
    with SQLiteStore(path) as store:
        assert store.send(events).ok
    return path, events


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["event_id"]: event for event in events}


def test_sessions_json_lists_every_session_with_its_counts(stored: tuple[Path, list[dict[str, Any]]]) -> None:
    db, events = stored
    done = run_cli("sessions", "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    sessions = {e["session_id"] for e in events}
    assert {s["session_id"] for s in listed} == sessions
    assert all(s["has_session_event"] and s["events"] == 4 for s in listed)  # the session event aside


def test_show_json_prints_the_sessions_events_as_stored(stored: tuple[Path, list[dict[str, Any]]]) -> None:
    db, events = stored
    session = events[0]["session_id"]
    done = run_cli("show", session[:8], "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert _by_id(shown) == {k: v for k, v in _by_id(events).items() if v["session_id"] == session}


def test_show_full_prints_inputs_outputs_config_and_metadata(stored: tuple[Path, list[dict[str, Any]]]) -> None:
    db, events = stored
    model = next(e for e in events if e["event_type"] == "model")
    done = run_cli("show", model["session_id"], "--full", "--db", str(db))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for label in ("inputs:", "outputs:", "config:", "metadata:", f"id {model['event_id']}"):
        assert label in text
    assert model["config"]["model"] in text and '"chat_history"' in text and '"prompt_tokens"' in text


def test_show_an_event_id_prints_that_event_in_full(stored: tuple[Path, list[dict[str, Any]]]) -> None:
    db, events = stored
    model = next(e for e in events if e["event_type"] == "model" and e.get("inputs"))
    done = run_cli("show", model["event_id"][:13], "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert f"event_id {model['event_id']}" in done.stdout and f"parent_id {model['parent_id']}" in done.stdout
    assert "inputs:" in done.stdout and '"chat_history"' in done.stdout
    as_json = run_cli("show", model["event_id"], "--json", "--db", str(db))
    assert json.loads(as_json.stdout) == model


@pytest.mark.parametrize(("given", "says"), [
    ("", "ID is empty: give a session id or an event id"),
    ("ffffffff", "no session or event id starts with 'ffffffff'"),
    ("not-hex!", "no session or event id starts with 'not-hex!'"),
])
def test_show_of_nothing_says_what_to_give(stored: tuple[Path, list[dict[str, Any]]], given: str, says: str) -> None:
    done = run_cli("show", given, "--db", str(stored[0]))
    assert done.returncode == 1 and done.stdout == ""
    assert says in done.stderr and done.stderr.count("\n") == 1


def test_export_ndjson_holds_every_event_as_stored(
    stored: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    db, events = stored
    out = tmp_path / "all.ndjson"
    done = run_cli("export", str(out), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "3 sessions (15 events)" in done.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert _by_id(exported) == _by_id(events)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".otlp.jsonl", ".otlp.json.gz"])
def test_export_to_otlp_and_convert_back_gives_the_same_events(
    stored: tuple[Path, list[dict[str, Any]]], tmp_path: Path, suffix: str
) -> None:
    db, events = stored
    otlp, back = tmp_path / f"all{suffix}", tmp_path / "back.ndjson"
    assert run_cli("export", str(otlp), "--db", str(db)).returncode == 0
    converted = run_cli("convert", str(otlp), str(back), "-q")
    assert converted.returncode == 0, converted.stderr
    assert _by_id([json.loads(line) for line in back.read_text().splitlines()]) == _by_id(events)


@pytest.mark.slow
def test_export_filters_by_session_and_start_time(stored: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    db, events = stored
    sessions = sorted({(e["start_time"], e["session_id"]) for e in events if e["event_type"] == "session"})
    (_, first), (_, second), _ = sessions
    one = tmp_path / "one.json"
    assert run_cli("export", str(one), "--session", first[:10], "--db", str(db)).returncode == 0
    assert {e["session_id"] for e in json.loads(one.read_text())} == {first}
    future = tmp_path / "none.ndjson"
    done = run_cli("export", str(future), "--since", "2999-01-01", "--db", str(db))
    assert done.returncode == 0 and future.read_text() == "" and "0 sessions" in done.stderr
    everything = tmp_path / "since.ndjson"
    assert run_cli("export", str(everything), "--since", "2000-01-01T00:00+00:00", "--db", str(db)).returncode == 0
    assert {json.loads(line)["session_id"] for line in everything.read_text().splitlines()} >= {first, second}


@pytest.mark.parametrize(("args", "says"), [
    (["--since", "yesterday"], "--since: not a date or time in ISO 8601 form"),
    (["--session", "ffff"], "--session 'ffff': no session in"),
])
def test_export_refuses_bad_filters_with_one_line(
    stored: tuple[Path, list[dict[str, Any]]], tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "out.ndjson"
    done = run_cli("export", str(out), *args, "--db", str(stored[0]))
    assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1
    assert not out.exists()


def test_export_never_writes_over_the_store_it_reads(stored: tuple[Path, list[dict[str, Any]]]) -> None:
    db, events = stored
    done = run_cli("export", str(db), "--to", "ndjson", "--db", str(db))
    assert done.returncode == 2 and "is the event store being exported" in done.stderr
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events() == len(events)


def test_export_of_something_that_is_not_a_whole_store_is_one_line(
    stored: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    import shutil
    import sqlite3

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    alone = tmp_path / "alone.db"  # copied without its -bodies/ directory
    shutil.copy(stored[0], alone)
    for db in (foreign, alone):
        done = run_cli("export", str(tmp_path / "out.ndjson"), "--db", str(db))
        assert done.returncode == 1 and f"cannot read the event store {db}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "out.ndjson").exists()
