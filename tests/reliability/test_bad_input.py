"""Bad input at every entry point of one real server: it answers 4xx with a clear message (never 5xx, never a
hang), keeps serving, and its memory stays bounded.

Entry points: OTLP/HTTP protobuf and JSON, OTLP/gRPC, the HoneyHive-compatible routes, and the `convert`
command's input files. Inputs: random bytes and JSON, valid requests mutated (bytes flipped, cut, inserted;
values swapped for ones of the wrong type), every field of every route given every wrong type, truncated and
garbage bodies, gzip and zstd bombs, deep nesting, huge attribute values, invalid UTF-8. Every request has a timeout, so
a hang fails the test. The number of bad inputs tried, and the server's memory before and after, are printed at
the end of the run.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_honeyhive.cli.main import main as cli
from tests.inputs.otlp import hex_ids
from tests.reliability.figures import FIGURES, record_memory
from tests.support.compression import gzip_bomb, zstd, zstd_bomb, zstd_with_window
from tests.support.server import RunningServer, start_server
from tests.support.spans import llm_traces

pytestmark = pytest.mark.slow  # one server fuzzed with thousands of requests

MAX_BODY = 4 * 2**20
TIMEOUT = 10
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
JSON_TYPE = "application/json"
MEMORY_GROWTH_LIMIT = 96 * 2**20
"""How much the server's VmRSS may grow over the whole module: a few request buffers and allocator slack, not
a leak (each of the thousands of bad requests leaking even 1 KiB would show)."""
BURST_GROWTH_LIMIT = 40 * 2**20
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Target:
    server: RunningServer
    rss_before: int
    session: requests.Session
    channel: grpc.Channel

    def otlp(self, body: bytes, media_type: str, **headers: str) -> requests.Response:
        FIGURES.tried("otlp_" + ("json" if media_type == JSON_TYPE else "protobuf"))
        return self.session.post(self.server.url + "/v1/traces", data=body,
                                 headers={"Content-Type": media_type, **headers}, timeout=TIMEOUT)

    def api(self, method: str, path: str, body: bytes) -> requests.Response:
        FIGURES.tried("honeyhive_api")
        return self.session.request(method, self.server.url + path, data=body,
                                    headers={"Content-Type": JSON_TYPE}, timeout=TIMEOUT)

    def grpc(self, body: bytes) -> tuple[grpc.StatusCode, str]:
        """The status code and message of an Export call carrying `body` as it is, unparsed."""
        FIGURES.tried("otlp_grpc")
        call = self.channel.unary_unary(EXPORT)
        try:
            ExportTraceServiceResponse.FromString(call(body, timeout=TIMEOUT))
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = start_server(tmp_path_factory.mktemp("bad-input"), "--max-body-bytes", str(MAX_BODY),
                          "--hold-timeout", "1", grpc=True)
    FIGURES.servers_started += 1
    session = requests.Session()
    channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 64 * 2**20)])
    for _ in range(3):  # warm up every path once, so the baseline includes what any first request loads
        assert session.post(server.url + "/v1/traces", data=VALID_PROTO,
                            headers={"Content-Type": PROTOBUF}, timeout=TIMEOUT).status_code == 200
        assert session.post(server.url + "/v1/traces", data=orjson.dumps(VALID_JSON),
                            headers={"Content-Type": JSON_TYPE}, timeout=TIMEOUT).status_code == 200
        channel.unary_unary(EXPORT)(VALID_PROTO, timeout=TIMEOUT)
        assert session.post(server.url + "/events/batch", data=orjson.dumps({"events": [EVENT]}),
                            headers={"Content-Type": JSON_TYPE}, timeout=TIMEOUT).status_code == 200
    target = Target(server, server.rss_bytes(), session, channel)
    try:
        yield target
    finally:
        channel.close()
        rss_after = server.rss_bytes() if server.proc.poll() is None else 0
        alive = server.healthy()
        server.stop()
        if server.crashed or not alive:
            FIGURES.server_crashes += 1
        record_memory("before and after every bad input of test_bad_input.py", target.rss_before, rss_after)
    assert alive and not server.crashed, server.stderr()
    assert rss_after - target.rss_before < MEMORY_GROWTH_LIMIT


# -- what a good request looks like, and what an answer to a bad one must be ---------------------------------------


VALID_SPANS = llm_traces(2, name="valid")
VALID_PROTO = encode_spans(VALID_SPANS).SerializeToString()
VALID_JSON: dict[str, Any] = hex_ids(json_format.MessageToDict(encode_spans(VALID_SPANS)))
EVENT: dict[str, Any] = {
    "event_type": "model", "event_name": "chat", "inputs": {"chat_history": [{"role": "user", "content": "hi"}]},
    "outputs": {"content": "hello"}, "config": {"model": "gpt-4o"}, "metadata": {"k": "v"}, "metrics": {"m": 1},
    "feedback": {"f": True}, "user_properties": {"user": "u"}, "error": None, "source": "s", "project": "p",
    "event_id": "6f9619ff-8b86-4011-b42d-00c04fc964ff", "session_id": "1b4e28ba-2d11-4ad0-8b43-2c0f1b5e5d0b",
    "parent_id": "1b4e28ba-2d11-4ad0-8b43-2c0f1b5e5d0b", "children_ids": [], "start_time": 1714978764301,
    "end_time": 1714978765301, "duration": 1000,
}


def dumps(value: Any) -> bytes:
    """JSON bytes for any value the strategies make (integers beyond 64 bits included, which orjson refuses)."""
    return json.dumps(value).encode()


def rpc_status(response: requests.Response, media_type: str) -> status_pb2.Status:
    status = status_pb2.Status()
    if media_type == JSON_TYPE:
        json_format.Parse(response.content, status)
    else:
        status.ParseFromString(response.content)
    return status


def assert_otlp_answer(response: requests.Response, media_type: str) -> None:
    """200 (with an ExportTraceServiceResponse), or a 4xx whose google.rpc.Status says what is wrong."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code == 200:
        return
    assert 400 <= response.status_code < 500
    assert rpc_status(response, media_type).message, "a refusal must say why"


def assert_api_answer(response: requests.Response) -> dict[str, Any]:
    """200, or a 4xx with `{"success": false, "error": "<what is wrong>"}`."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body: dict[str, Any] = response.json()
    if response.status_code != 200:
        assert body["success"] is False and body["error"], body
    return body


def assert_grpc_answer(code: grpc.StatusCode, message: str) -> None:
    """OK, or INVALID_ARGUMENT / RESOURCE_EXHAUSTED with a message: never INTERNAL or UNKNOWN (gRPC's 5xx)."""
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), (
        code, message)
    assert code is grpc.StatusCode.OK or message


# -- strategies ----------------------------------------------------------------------------------------------------


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` with 1 to 8 edits: a byte flipped, the rest cut off, bytes inserted, deleted or repeated."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "delete", "repeat"]))
        if edit == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 32))]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated_document(draw: st.DrawFn, valid: Any) -> Any:
    """A deep copy of `valid` with 1 to 4 values replaced by random JSON (most often of the wrong type), or
    their keys removed."""
    doc = json.loads(dumps(valid))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        doc = _replace(doc, path, draw(JSON_VALUES), delete=draw(st.booleans()))
    return doc


# -- OTLP/HTTP protobuf --------------------------------------------------------------------------------------------


def test_otlp_protobuf_random_and_mutated_bodies_get_200_or_a_clear_400(target: Target) -> None:
    @FUZZ
    @given(body=st.binary(max_size=2048) | mutated_bytes(VALID_PROTO), gzipped=st.booleans())
    def check(body: bytes, gzipped: bool) -> None:
        headers = {"Content-Encoding": "gzip"} if gzipped else {}
        assert_otlp_answer(target.otlp(gzip.compress(body) if gzipped else body, PROTOBUF, **headers), PROTOBUF)

    check()
    assert target.server.healthy()


# -- OTLP/HTTP JSON ------------------------------------------------------------------------------------------------


def test_otlp_json_random_and_mutated_documents_get_200_or_a_clear_400(target: Target) -> None:
    @FUZZ
    @given(doc=JSON_VALUES | mutated_document(VALID_JSON) | st.fixed_dictionaries({"resourceSpans": JSON_VALUES}))
    def check(doc: Any) -> None:
        assert_otlp_answer(target.otlp(dumps(doc), JSON_TYPE), JSON_TYPE)

    check()
    assert target.server.healthy()


def test_otlp_json_garbage_bytes_and_invalid_utf8_get_a_clear_400(target: Target) -> None:
    valid = orjson.dumps(VALID_JSON)

    @FUZZ
    @given(body=st.binary(max_size=1024) | mutated_bytes(valid),
           bad_utf8=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
    def check(body: bytes, bad_utf8: bytes) -> None:
        assert_otlp_answer(target.otlp(body, JSON_TYPE), JSON_TYPE)
        name = valid.index(b'"valid-0"') + 3  # inside a string value: otherwise valid JSON, invalid UTF-8
        response = target.otlp(valid[:name] + bad_utf8 + valid[name:], JSON_TYPE)
        assert response.status_code == 400 and "invalid JSON" in rpc_status(response, JSON_TYPE).message

    check()
    assert target.server.healthy()


def _nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    value = leaf
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


def _with_attribute(doc: dict[str, Any], value: dict[str, Any]) -> bytes:
    doc = orjson.loads(orjson.dumps(doc))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append({"key": "fuzz", "value": value})
    return orjson.dumps(doc)


BOMB = gzip_bomb(256 * 2**20)
ZSTD_BOMB = zstd_bomb(256 * 2**20)


@pytest.mark.parametrize(
    ("name", "body", "media_type", "headers", "status"),
    [
        ("deep JSON nesting", b"[" * 200_000 + b"]" * 200_000, JSON_TYPE, {}, 400),
        ("deep object nesting", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON_TYPE, {}, 400),
        ("attribute nested 70 deep (JSON)", _with_attribute(VALID_JSON, _nested(70, {"intValue": "1"})),
         JSON_TYPE, {}, 400),
        ("huge attribute value (3 MiB)", _with_attribute(VALID_JSON, {"stringValue": "x" * (3 * 2**20)}),
         JSON_TYPE, {}, 200),
        ("attribute value over the limit", _with_attribute(VALID_JSON, {"stringValue": "x" * MAX_BODY}),
         JSON_TYPE, {}, 413),
        ("gzip bomb (256 MiB of zeros)", BOMB, PROTOBUF, {"Content-Encoding": "gzip"}, 413),
        ("truncated gzip", gzip.compress(VALID_PROTO)[:-20], PROTOBUF, {"Content-Encoding": "gzip"}, 400),
        ("gzip that is not gzip", b"\x1f\x8bnot really", PROTOBUF, {"Content-Encoding": "gzip"}, 400),
        ("zstd bomb (256 MiB of zeros)", ZSTD_BOMB, PROTOBUF, {"Content-Encoding": "zstd"}, 413),
        ("truncated zstd", zstd.compress(VALID_PROTO)[:-3], PROTOBUF, {"Content-Encoding": "zstd"}, 400),
        ("zstd frame asking a 1 GiB window", zstd_with_window(VALID_PROTO, 30), PROTOBUF,
         {"Content-Encoding": "zstd"}, 400),
        ("unknown encoding", VALID_PROTO, PROTOBUF, {"Content-Encoding": "br"}, 400),
        ("truncated protobuf", VALID_PROTO[: len(VALID_PROTO) // 2], PROTOBUF, {}, 400),
        ("empty JSON body", b"", JSON_TYPE, {}, 400),
        ("not JSON", b"<xml/>", JSON_TYPE, {}, 400),
        ("wrong media type", VALID_PROTO, "text/plain", {}, 415),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else "",
)
def test_hostile_otlp_bodies_get_a_clear_4xx_or_are_taken_whole(
    target: Target, name: str, body: bytes, media_type: str, headers: dict[str, str], status: int
) -> None:
    response = target.otlp(body, media_type, **headers)
    assert response.status_code == status, (name, response.content[:300])
    if status != 200:
        assert rpc_status(response, JSON_TYPE if status == 415 else media_type).message


# -- OTLP/gRPC -----------------------------------------------------------------------------------------------------


def test_otlp_grpc_random_and_mutated_requests_get_ok_or_invalid_argument(target: Target) -> None:
    @FUZZ
    @given(body=st.binary(max_size=2048) | mutated_bytes(VALID_PROTO))
    def check(body: bytes) -> None:
        assert_grpc_answer(*target.grpc(body))

    check()
    assert target.grpc(b"\x0a\xff\xff\xff\xff\x0f")[0] is grpc.StatusCode.INVALID_ARGUMENT
    deep = ExportTraceServiceRequest.FromString(VALID_PROTO)
    attribute = deep.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep")
    value = attribute.value
    for _ in range(80):  # past the nesting limits (protobuf's own: 100 messages; the decoder's: 64 levels)
        value = value.array_value.values.add()
    value.int_value = 1
    code, message = target.grpc(deep.SerializeToString())
    assert code is grpc.StatusCode.INVALID_ARGUMENT and re.search("depth|nest", message, re.IGNORECASE), message
    too_big = ExportTraceServiceRequest.FromString(VALID_PROTO)
    too_big.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="big").value.string_value = "x" * MAX_BODY
    assert target.grpc(too_big.SerializeToString())[0] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert target.server.healthy()


# -- the HoneyHive-compatible routes -------------------------------------------------------------------------------


WRONG_TYPES: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "text", "not-a-uuid", [], [1, "a"], {}, {"k": [{}]},
                          "x" * 100_000, [[[[[[[[[[[]]]]]]]]]]]]
VALID_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/events", {"event": EVENT}),
    ("POST", "/events/batch", {"events": [EVENT, {**EVENT, "event_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"}],
                               "is_single_session": False}),
    ("POST", "/events/batch", {"events": [{k: v for k, v in EVENT.items() if k != "session_id"}],
                               "is_single_session": True,
                               "session_properties": {"session_id": EVENT["session_id"], "session_name": "s",
                                                      "source": "s", "inputs": {}, "metadata": {}}}),
    ("POST", "/session/start", {"session": {"session_name": "s", "project": "p", "source": "s", "inputs": {},
                                            "metadata": {}, "user_properties": {}, "session_id": EVENT["session_id"],
                                            "start_time": 1714978764301}}),
    ("PUT", "/events", {"event_id": EVENT["event_id"], "metadata": {"k": 1}, "feedback": {}, "metrics": {},
                        "outputs": {}, "config": {}, "user_properties": {}, "duration": 5, "end_time": 1714978765301,
                        "children_ids": []}),
]


def test_every_field_of_every_route_given_every_wrong_type_gets_200_or_a_400_naming_it(target: Target) -> None:
    assert_api_answer(target.api("POST", "/events", orjson.dumps({"event": EVENT})))  # so PUT finds its event
    tried = 0
    for method, path, valid in VALID_BODIES:
        for field in [p for p in _paths(valid) if p and len(p) <= 3]:
            for wrong in WRONG_TYPES:
                body = _replace(json.loads(dumps(valid)), field, wrong, delete=False)
                answer = assert_api_answer(target.api(method, path, dumps(body)))
                tried += 1
                if not answer["success"]:
                    named = [str(step) for step in field if isinstance(step, str)]
                    assert any(name in answer["error"] for name in named), (method, path, field, answer)
    assert tried > 1000
    assert target.server.healthy()


def test_random_bodies_on_every_route_get_200_or_a_clear_4xx(target: Target) -> None:
    routes = [(method, path) for method, path, _ in VALID_BODIES]

    @FUZZ
    @given(route=st.sampled_from(routes), body=JSON_VALUES | st.sampled_from(VALID_BODIES).flatmap(
        lambda valid: mutated_document(valid[2])))
    def check(route: tuple[str, str], body: Any) -> None:
        assert_api_answer(target.api(*route, dumps(body)))

    @FUZZ
    @given(route=st.sampled_from(routes), body=st.binary(max_size=512))
    def check_bytes(route: tuple[str, str], body: bytes) -> None:
        assert_api_answer(target.api(*route, body))

    check()
    check_bytes()
    assert target.server.healthy()


# -- convert input files -------------------------------------------------------------------------------------------


CONVERSIONS = [("in.ndjson", "out.otlp.jsonl"), ("in.json", "out.otlp.json"), ("in.otlp.jsonl", "out.ndjson"),
               ("in.otlp.json", "out.json"), ("in.ndjson.gz", "out.otlp.jsonl"), ("in.otlp.jsonl.gz", "out.ndjson")]


def convert(name: str, output: str, content: bytes) -> tuple[int, str]:
    """`otel-honeyhive convert` on a file holding `content`, in this process: (exit status, stderr)."""
    FIGURES.tried("convert")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / name
        source.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = cli(["convert", str(source), str(Path(tmp) / output), "--quiet"])
        if status != 0:
            assert not (Path(tmp) / output).exists(), "a failed conversion leaves no output behind"
    return status, stderr.getvalue()


VALID_LINES = {
    "events": orjson.dumps(EVENT) + b"\n" + orjson.dumps({**EVENT, "event_type": "tool"}) + b"\n",
    "otlp": orjson.dumps(VALID_JSON) + b"\n",
}


def test_convert_refuses_bad_files_with_file_line_and_reason_never_a_traceback() -> None:
    @FUZZ
    @given(conversion=st.sampled_from(CONVERSIONS), data=st.data())
    def check(conversion: tuple[str, str], data: st.DataObject) -> None:
        name, output = conversion
        valid = VALID_LINES["otlp" if ".otlp." in name else "events"]
        content = data.draw(st.binary(max_size=512) | mutated_bytes(valid)
                            | JSON_VALUES.map(lambda v: dumps(v) + b"\n")
                            | mutated_document(orjson.loads(valid.splitlines()[0])).map(dumps))
        status, stderr = convert(name, output, content)
        assert status in (0, 1), stderr
        if status == 1:
            assert stderr.startswith("otel-honeyhive convert: ") and "Traceback" not in stderr
            assert len(stderr.strip().splitlines()) == 1, stderr

    check()
    status, stderr = convert("in.ndjson.gz", "out.otlp.jsonl", b"")
    assert status == 0, stderr
    with tempfile.TemporaryDirectory() as tmp:  # a .gz that is not gzip
        (Path(tmp) / "in.ndjson.gz").write_bytes(b"plain text, not gzip")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert cli(["convert", str(Path(tmp) / "in.ndjson.gz"), str(Path(tmp) / "o.ndjson")]) == 1
        assert "otel-honeyhive convert:" in err.getvalue() and "Traceback" not in err.getvalue()
    for damaged in (b"\x1f\x8b", gzip.compress(VALID_LINES["events"])[:-12]):  # gzip's magic alone; cut short
        status, stderr = convert("in.ndjson", "out.otlp.jsonl", damaged)
        assert status == 1 and "not a complete gzip file" in stderr and "Traceback" not in stderr, stderr


# -- memory --------------------------------------------------------------------------------------------------------


def test_a_burst_of_hostile_requests_leaves_memory_bounded(target: Target) -> None:
    """After four passes (the allocator's high-water mark: each worker thread's malloc arena has seen the largest
    bodies), sixteen more passes of the same hostile requests must not add to the server's memory: a leak of even
    half a MiB per request would show."""
    hostile = [
        (BOMB, PROTOBUF, {"Content-Encoding": "gzip"}),
        (ZSTD_BOMB, PROTOBUF, {"Content-Encoding": "zstd"}),
        (_with_attribute(VALID_JSON, {"stringValue": "y" * (3 * 2**20)}), JSON_TYPE, {}),
        (b"[" * 200_000 + b"]" * 200_000, JSON_TYPE, {}),
        (VALID_PROTO[:-7], PROTOBUF, {}),
        (b"\x00" * MAX_BODY, PROTOBUF, {}),
    ]
    for _ in range(4):
        for body, media_type, headers in hostile:
            assert target.otlp(body, media_type, **headers).status_code < 500
    before = target.server.rss_bytes()
    for _ in range(16):
        for body, media_type, headers in hostile:
            assert target.otlp(body, media_type, **headers).status_code < 500
    after = target.server.rss_bytes()
    record_memory("96 hostile requests after 24 to warm up (gzip and zstd bombs, 3-4 MiB bodies, deep nesting)", before,
                  after)
    assert after - before < BURST_GROWTH_LIMIT
    assert target.server.healthy()
