"""A span set seeded with secrets and personal data in every field kind, and the checks that none of it got out.

The spans are real SDK spans (`Recorder`): emails, card numbers, provider keys, a bearer token and IP addresses
in span names, status messages, plain attributes, chat message attributes, JSON that arrived as a string, span
events and the resource, beside ids and numbers that look like them (a Luhn-valid token count, a span id). The
masking tests ship them through the exporter and `serve`, then search every byte written and every log line for
the seeded values (`assert_nothing_seeded`) and compare the events with the unmasked mapping
(`assert_same_but_masked`): every id, type, time and number unchanged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from otel_honeyhive.pipeline.masking import MASK_FAILED, MASKED_KEY
from tests.support.spans import Recorder

EMAILS = ("alice.liddell@example.com", "bob.jones@example.org", "carol+billing@example.net",
          "dave@mail.example.co.uk", "ops.owner@corp-example.com", "erin.record@example.io")
CARDS = ("4242 4242 4242 4242", "5555-5555-5555-4444", "378282246310005")
KEYS = ("sk-proj-T3BlbkFJ9xY2mN4pR6tV8wY0aC2eG4iK6mO8q", "sk-ant-api03-Zx8kQ2mN4pR6tV8wY0aC2eG4iK6mO8qS",
        "AKIAIOSFODNN7EXAMPLE", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "xoxb-2048-4096-Zx8kQ2mN4pR6tV8w",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q")
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNlY3JldA"
IPS = ("198.51.100.23", "10.20.30.40", "2001:db8:85a3::8a2e:370:7334")
EMPLOYEE = "EMP-734211"
"""Found by the user's pattern `EMP-\\d{6}` (`--redact-regex`), not by a built-in redactor."""
SEEDED = (*EMAILS, *CARDS, *KEYS, BEARER_TOKEN, *IPS)
"""What the built-in redactors must remove."""
TOKEN_COUNT = 4242424242424242
"""A Luhn-valid number, as a number: never masked."""
MARKERS = ("<email>", "<credit_card>", "<api_key>", "<ip>", "<redacted>", MASK_FAILED)


def seeded_spans(*, employee: bool = False) -> list[ReadableSpan]:
    """One trace: a root, a chat call with its messages in attributes and a span event, a tool call whose
    input is JSON, and a second chat call without content (for a log record to fill)."""
    recorder = Recorder("shop", resource={"owner.email": EMAILS[4], "host.ip": IPS[0]}, scope="tests.masking")
    tracer = recorder.tracer
    with tracer.start_as_current_span(f"handle request for {EMAILS[0]}") as root:
        root.set_attributes({
            "input.value": json.dumps({"messages": [{"role": "user", "content": f"card {CARDS[0]} and {EMAILS[1]}"}],
                                       "retries": 3}),
            "input.mime_type": "application/json",
            "http.client_ip": IPS[2],
            "honeyhive_metadata.note": f"key {KEYS[2]}" + (f" by {EMPLOYEE}" if employee else ""),
            "honeyhive_metrics.score": 0.5,
        })
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": f"my key is {KEYS[0]}",
                "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": f"call {IPS[1]}",
                "gen_ai.usage.input_tokens": TOKEN_COUNT, "gen_ai.usage.output_tokens": 7,
            })
            chat.add_event("gen_ai.content.prompt", {
                "gen_ai.prompt": json.dumps([{"role": "user", "content": f"to {EMAILS[3]} with {KEYS[1]}"}]),
                "http.request.header.authorization": f"Bearer {BEARER_TOKEN}",
            })
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attributes({
                "openinference.span.kind": "TOOL", "tool.name": "lookup",
                "input.value": f"customer card {CARDS[1]}, amex {CARDS[2]}",
                "output.value": json.dumps({"token": KEYS[3], "slack": KEYS[4], "google": KEYS[5]}),
            })
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
        }):
            pass
        root.set_status(Status(StatusCode.ERROR, f"failed for {EMAILS[2]}"))
    return recorder.finish()


RECORD_MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": f"I am {EMAILS[5]}"}]}]
"""The content of the log record joined to the second chat call."""


def spellings(secret: str) -> list[bytes]:
    """The value as it is, JSON-escaped, and as base64 and hex would carry it."""
    raw = secret.encode()
    return [raw, json.dumps(secret)[1:-1].encode(), base64.b64encode(raw), raw.hex().encode()]


def assert_nothing_seeded(what: str, data: bytes, seeded: Iterable[str] = SEEDED) -> None:
    for secret in seeded:
        for spelled in spellings(secret):
            assert spelled not in data, f"{secret!r} appears in {what}"


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]


def assert_same_but_masked(expected: Any, actual: Any, path: str = "event") -> None:
    """`actual` is `expected` with some strings masked: every non-string leaf (ids are strings, but never
    masked: compared by the caller) equal, every string equal or carrying a marker. Keys `actual` lacks or adds
    are not this check's concern (outputs encode events their own way), except the masked count."""
    if isinstance(expected, str):
        assert expected == actual or (isinstance(actual, str) and any(m in actual for m in MARKERS)), \
            f"{path}: {expected!r} became {actual!r}"
    elif isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{path}: {actual!r} is not a mapping"
        for key, value in expected.items():
            if key in actual and key != MASKED_KEY:
                assert_same_but_masked(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_same_but_masked(want, got, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: {expected!r} became {actual!r}"


IDENTITY_FIELDS = ("event_id", "session_id", "parent_id", "children_ids", "event_type", "start_time", "end_time",
                   "duration")


def assert_ids_and_numbers_kept(expected: list[dict[str, Any]], actual: Iterable[Mapping[str, Any]]) -> None:
    """Every event of the unmasked mapping arrived, with its ids, type and times exactly as they were, and the
    rest masked at most."""
    by_id = {event["event_id"]: event for event in actual}
    assert set(by_id) == {event["event_id"] for event in expected}
    for want in expected:
        got = by_id[want["event_id"]]
        for field in IDENTITY_FIELDS:
            if field in want and field in got:
                assert got[field] == want[field], f"{field} of {want['event_name']!r}"
        assert_same_but_masked(want, got, want["event_name"])


__all__ = [
    "BEARER_TOKEN", "CARDS", "EMAILS", "EMPLOYEE", "IPS", "KEYS", "MARKERS", "RECORD_MESSAGES", "SEEDED",
    "TOKEN_COUNT", "assert_ids_and_numbers_kept", "assert_nothing_seeded", "assert_same_but_masked",
    "files_under", "seeded_spans", "spellings",
]
