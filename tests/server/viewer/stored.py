"""Sessions written straight into a real SQLite store, for the viewer's tests to read back as pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.outputs.store import SQLiteStore

T0 = 1_790_000_000_000.0
"""2026-09-21 14:13:20 UTC, in milliseconds."""
SESSION = "5e551011-0000-4000-8000-000000000001"
CHAIN = "c4a10000-0000-4000-8000-000000000002"
MODEL = "30de1000-0000-4000-8000-000000000003"
TOOL = "7001a000-0000-4000-8000-000000000004"
FAILING_TOOL = "7001b000-0000-4000-8000-000000000005"
HOSTILE = "<script>window.__pwned = true</script><img src=x onerror=\"window.__pwned = true\">"
"""What an attacker could put in a prompt: it must be shown as text, never run."""
LONG = "lorem ipsum " * 500
"""6,000 characters: collapsed on the page, whole behind its link."""


def event(session_id: str, event_id: str, event_type: str, name: str, start: float, duration: float,
          parent_id: str | None = None, **fields: Any) -> Event:
    return {
        "event_id": event_id, "session_id": session_id, "parent_id": parent_id, "event_type": event_type,
        "event_name": name, "source": "viewer-test", "project": "viewer", "start_time": start,
        "end_time": start + duration, "duration": duration, "config": {}, "inputs": {}, "outputs": {},
        "metadata": {}, "metrics": {}, "feedback": {}, "user_properties": {}, "error": None, **fields,
    }


def agent_session(session_id: str = SESSION, start: float = T0, name: str = "checkout-agent") -> list[Event]:
    """A session with a chain, a model call that calls a tool (its conversation carries a `<script>`), the tool,
    and a tool that failed."""
    return [
        event(session_id, session_id, "session", name, start, 1200.0,
              inputs={"question": "Where is my order?"}, user_properties={"user_id": "user-42"}),
        event(session_id, CHAIN, "chain", "plan", start + 10, 1100.0, session_id,
              inputs={"goal": "answer"}, outputs={"steps": 2}),
        event(session_id, MODEL, "model", "chat gpt-4o-mini", start + 20, 800.0, CHAIN,
              config={"provider": "openai", "model": "gpt-4o-mini",
                      "hyperparameters": {"temperature": 0.2, "max_tokens": 256}},
              inputs={"chat_history": [
                  {"role": "system", "content": "You are a shop assistant."},
                  {"role": "user", "content": "Where is order 7? " + HOSTILE},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "call_1", "type": "function",
                       "function": {"name": "lookup_order", "arguments": "{\"order_id\": 7}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\": \"shipped\"}"},
                  {"role": "user", "content": LONG},
              ]},
              outputs={"role": "assistant", "content": "Order 7 has shipped.", "finish_reason": "stop"},
              metadata={"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                        "response_model": "gpt-4o-mini-2024-07-18"}),
        event(session_id, TOOL, "tool", "lookup_order", start + 830, 40.0, CHAIN,
              inputs={"order_id": 7}, outputs={"status": "shipped", "carrier": "DHL"},
              metrics={"latency_ok": True}, feedback={"rating": 5}),
        event(session_id, FAILING_TOOL, "tool", "notify_customer", start + 900, 15.0, CHAIN,
              inputs={"channel": "sms"}, error="TimeoutError: the SMS gateway did not answer"),
    ]


def plain_session(index: int, start: float, *, error: bool = False, user: str | None = None) -> list[Event]:
    """A small session (one model call) named `job-{index}`."""
    sid = f"00000000-0000-4000-8000-{index:012d}"
    return [
        event(sid, sid, "session", f"job-{index}", start, 100.0,
              user_properties={"user_id": user} if user else {}),
        event(sid, f"00000000-0000-4000-9000-{index:012d}", "model", "chat", start + 1, 50.0, sid,
              metadata={"total_tokens": 10 + index}, error="boom" if error else None),
    ]


CONVERSATION = "c0de0000-0000-4000-8000-000000000010"


def conversation_session(turns: int = 3, start: float = T0 - 3_600_000) -> list[Event]:
    """A chat conversation as `sessions="conversation"` stores it: a session event, then per turn a `turn n` chain
    under it whose model call was given the history so far and answered; the second turn calls a tool first, so
    its answer comes from a second model call, and its question carries a `<script>`."""
    events = [event(CONVERSATION, CONVERSATION, "session", "support chat", start, turns * 60_000.0,
                    metadata={"conversation_id": "support-chat-7"})]
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are a support agent."}]
    for n in range(1, turns + 1):
        at = start + (n - 1) * 60_000
        turn = f"7a000000-0000-4000-8000-{n:012d}"
        question = f"question {n}" + (" " + HOSTILE if n == 2 else "")
        history = [*history, {"role": "user", "content": question}]
        events.append(event(CONVERSATION, turn, "chain", f"turn {n}", at, 5_000.0, CONVERSATION))
        first = f"30de0000-0000-4000-8000-{n:012d}"
        if n == 2:
            events.append(event(CONVERSATION, first, "model", "chat", at + 10, 900.0, turn,
                                inputs={"chat_history": list(history)},
                                outputs={"role": "assistant", "content": None, "tool_calls": [
                                    {"id": "call_2", "type": "function",
                                     "function": {"name": "lookup", "arguments": "{}"}}]}))
            events.append(event(CONVERSATION, f"7001c000-0000-4000-8000-{n:012d}", "tool", "lookup", at + 950,
                                20.0, turn))
            first = f"30de1000-0000-4000-8000-{n:012d}"
            history = [*history, {"role": "tool", "tool_call_id": "call_2", "content": "found"}]
        answer = f"answer {n}"
        events.append(event(CONVERSATION, first, "model", "chat", at + 1_000, 900.0, turn,
                            inputs={"chat_history": list(history)},
                            outputs={"role": "assistant", "content": answer}))
        history = [*history, {"role": "assistant", "content": answer}]
    return events


def write(path: Path, events: Sequence[Event]) -> None:
    with SQLiteStore(path) as store:
        result = store.send(list(events))
        assert result.ok, result


@dataclass
class StoreSink:
    """The server's `Sink` reduced to writing into the store (the viewer only reads what is there)."""

    path: Path

    @property
    def output_name(self) -> str:
        return "sqlite"

    def accept_spans(self, spans: Sequence[SpanView]) -> SendResult:
        raise AssertionError("the viewer's tests send no spans")

    def accept_events(self, events: list[Event]) -> SendResult:
        with SQLiteStore(self.path) as store:
            return store.send(events)

    def accept_update(self, update: Update) -> SendResult:
        with SQLiteStore(self.path) as store:
            return store.update(update)

    def accept_records(self, records: Sequence[Any]) -> SendResult:
        raise AssertionError("the viewer's tests send no log records")
