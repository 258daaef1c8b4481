"""Every example runs, for real, against the local HoneyHive-compatible server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.fake_anthropic import run_fake_anthropic
from tests.support.fake_openai import FakeOpenAI, run_fake_openai
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # every example, in subprocesses against real servers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_env(server: RunningServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
    env.update({"HH_API_URL": server.url, "HH_PROJECT": "examples", **extra})
    return env


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_auto_instrumentation_with_otel_traces_exporter_honeyhive_delivers_a_session(local_api: RunningServer) -> None:
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument, "opentelemetry-instrument is installed with the test extra"
    env = example_env(
        local_api,
        OTEL_TRACES_EXPORTER="honeyhive",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="rag-demo",
    )
    session_id = run([instrument, sys.executable, "examples/rag_pipeline.py"], env).strip()

    with local_api.store() as store:
        events = store.session_events(session_id)
    by_name = {e["event_name"]: e for e in events}
    assert set(by_name) == {"rag-pipeline", "retrieve documents", "chat gpt-4o-mini", "execute_tool word_count"}
    session = by_name["rag-pipeline"]
    assert session["event_type"] == "session" and session["event_id"] == session_id
    assert session["metadata"]["resource"]["service.name"] == "rag-demo"
    assert session["inputs"] == {"args": ["How does the bridge relate OTel and HoneyHive?"], "kwargs": {}}
    model = by_name["chat gpt-4o-mini"]
    assert model["event_type"] == "model"
    assert model["config"]["model"] == "gpt-4o-mini" and model["config"]["provider"] == "openai"
    assert model["inputs"]["chat_history"][0] == {"role": "system", "content": "Answer only from the context."}
    assert model["outputs"]["role"] == "assistant" and model["outputs"]["finish_reason"] == "stop"
    assert model["metadata"]["prompt_tokens"] > 0 and model["metadata"]["completion_tokens"] > 0
    retriever = by_name["retrieve documents"]
    assert retriever["event_type"] == "tool" and len(retriever["outputs"]["documents"]) >= 1
    tool = by_name["execute_tool word_count"]
    assert tool["event_type"] == "tool" and tool["outputs"]["words"] > 0
    assert all(e["parent_id"] == session_id for e in events if e is not session)
    assert all(e["project"] == "examples" for e in events)


def test_the_rag_example_sets_up_the_exporter_itself_when_run_plainly(local_api: RunningServer) -> None:
    session_id = run([sys.executable, "examples/rag_pipeline.py", "What is OTel?"], example_env(local_api)).strip()
    with local_api.store() as store:
        assert len(store.session_events(session_id)) == 4


def test_the_manual_spans_quickstart(local_api: RunningServer) -> None:
    trace_hex = run([sys.executable, "examples/manual_spans.py"], example_env(local_api)).strip()
    session_id = session_id_for_trace(int(trace_hex, 16))
    with local_api.store() as store:
        events = store.session_events(session_id)
    assert [e["event_type"] for e in sorted(events, key=lambda e: e["event_type"] != "session")] == ["session", "model"]


@pytest.mark.skipif(not (ROOT / ".venv").exists(), reason="scripts/demo installs into the project's .venv")
def test_the_readme_demo_command_prints_the_session_tree(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env["DB"] = str(tmp_path / "demo.db")
    out = run(["bash", "scripts/demo"], env)
    assert "rag-pipeline" in out
    for line in ("retrieve documents", "chat gpt-4o-mini", "execute_tool word_count", "gpt-4o-mini"):
        assert line in out


# -- OpenAI through each instrumentation, against a local OpenAI-compatible fake ----------------------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


def openai_env(server: RunningServer, fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return example_env(server, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test", OTEL_METRICS_EXPORTER="none",
                       OTEL_LOGS_EXPORTER="none", **extra)


def the_model_event(events: list[dict[str, Any]], session_id: str) -> dict[str, Any]:
    """The session's one model event, checked to hang under the session."""
    [model] = [e for e in events if e["event_type"] == "model"]
    assert model["parent_id"] == session_id
    assert {e["event_type"] for e in events} == {"session", "model"}
    return model


@pytest.mark.parametrize(
    ("example", "event_name"),
    [("openai_official.py", "chat gpt-4o-mini"), ("openai_traceloop.py", "openai.chat"),
     ("openai_openinference.py", "ChatCompletion")],
)
def test_each_openai_instrumentation_example_delivers_the_conversation(
    local_api: RunningServer, fake_openai: FakeOpenAI, example: str, event_name: str
) -> None:
    session_id = run([sys.executable, f"examples/{example}"], openai_env(local_api, fake_openai)).strip()

    with local_api.store() as store:
        events = store.session_events(session_id)
    model = the_model_event(events, session_id)
    [exchange] = fake_openai.exchanges
    assert model["event_name"] == event_name
    assert (model["config"]["model"], model["config"]["provider"]) == ("gpt-4o-mini", "openai")
    assert model["inputs"]["chat_history"] == exchange.request["messages"]
    assert model["outputs"]["content"] == exchange.response["choices"][0]["message"]["content"]
    usage = exchange.response["usage"]
    assert (model["metadata"]["prompt_tokens"], model["metadata"]["completion_tokens"]) == (
        usage["prompt_tokens"], usage["completion_tokens"])


def test_the_honeyhive_sdk_attributes_example_sets_every_bucket(
    local_api: RunningServer, fake_openai: FakeOpenAI
) -> None:
    session_id = run([sys.executable, "examples/honeyhive_sdk_attributes.py"], openai_env(local_api, fake_openai))
    session_id = session_id.strip()

    with local_api.store() as store:
        events = store.session_events(session_id)
    model = the_model_event(events, session_id)
    session = next(e for e in events if e["event_type"] == "session")
    [exchange] = fake_openai.exchanges
    answer = exchange.response["choices"][0]["message"]["content"]
    assert session["inputs"] == {"question": "What does OpenTelemetry trace?"}
    assert session["outputs"] == {"answer": answer}
    assert session["user_properties"] == {"user_id": "user-42"}
    assert model["config"] == {"model": "gpt-4o-mini", "provider": "openai", "hyperparameters": {"temperature": 0.0}}
    assert model["inputs"] == {"chat_history": exchange.request["messages"]}
    assert model["outputs"] == {"role": "assistant", "content": answer}
    assert model["metrics"] == {"answer_words": len(answer.split())}
    assert model["metadata"]["prompt_tokens"] == exchange.response["usage"]["prompt_tokens"]
    assert not any(k.startswith("honeyhive_") for e in events for k in e["metadata"])


def test_the_sidecar_app_exports_plain_otlp_with_the_sidecars_bridge_settings(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """The app → Collector → bridge path, with the Collector left out (none can be installed offline; its
    configuration is checked in test_collector_configs.py): the app sends what the sidecar's `otlp/bridge`
    exporter sends, OTLP/gRPC with its bearer token, to a bridge started with `--auth-token`."""
    sidecar = yaml.safe_load((EXAMPLES / "collector" / "sidecar.yaml").read_text())
    bridge_exporter = sidecar["exporters"]["otlp/bridge"]
    token = "sidecar-token"
    authorization = bridge_exporter["headers"]["authorization"].replace("${env:BRIDGE_TOKEN}", token)
    with run_server(tmp_path, "--auth-token", token, grpc=True) as bridge:
        env = openai_env(
            bridge, fake_openai,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",  # the Collector's `otlp` exporter speaks gRPC
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{bridge.grpc_target}",
            OTEL_EXPORTER_OTLP_HEADERS="authorization=" + authorization.replace(" ", "%20"),
        )
        trace_hex = run([sys.executable, "examples/sidecar_app.py"], env).strip()
        session_id = session_id_for_trace(int(trace_hex, 16))
        with bridge.store() as store:
            events = store.session_events(session_id)
    model = the_model_event(events, session_id)
    session = next(e for e in events if e["event_type"] == "session")
    assert session["event_name"] == "answer-question"
    assert session["metadata"]["resource"]["service.name"] == "sidecar-app"
    assert (model["config"]["model"], model["config"]["provider"]) == ("gpt-4o-mini", "openai")
    assert model["inputs"]["chat_history"] == fake_openai.exchanges[0].request["messages"]
    assert model["metadata"]["completion_tokens"] == fake_openai.exchanges[0].response["usage"]["completion_tokens"]


@pytest.mark.parametrize(
    ("instrumentation", "model_name", "text"),
    [("openinference", "FakeChat", "content"), ("traceloop", "FakeChat.chat", "page_content")],
)
def test_the_langchain_example_delivers_chain_steps_model_calls_the_tool_and_the_retriever(
    local_api: RunningServer, instrumentation: str, model_name: str, text: str
) -> None:
    env = example_env(local_api, OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    session_id = run([sys.executable, "examples/langchain_app.py", instrumentation], env).strip()

    with local_api.store() as store:
        events = store.session_events(session_id)
    ids = {e["event_id"] for e in events}
    assert all(e["parent_id"] in ids for e in events if e["event_type"] != "session")
    models = [e for e in events if e["event_type"] == "model"]
    assert [m["event_name"] for m in models] == [model_name] * 2
    for model in models:
        assert (model["config"]["model"], model["config"]["provider"]) == ("fake-chat-1", "fake")
        assert model["inputs"]["chat_history"][0]["role"] == "system"
        assert (model["metadata"]["prompt_tokens"], model["metadata"]["completion_tokens"]) == (24, 8)
    assert models[0]["outputs"]["tool_calls"][0]["function"]["name"] == "word_count"
    assert models[1]["outputs"]["content"] == "The page has 4 words."
    tools = {e["event_name"]: e for e in events if e["event_type"] == "tool"}
    [retriever] = [e for name, e in tools.items() if name.endswith("Handbook")]
    [document] = retriever["outputs"]["documents"]
    assert document[text] == "Spans become HoneyHive events."  # OpenInference's name for it, or LangChain's
    assert any(name.endswith("word_count") for name in tools)
    assert sum(e["event_type"] == "chain" for e in events) >= 5


# -- Anthropic through each instrumentation, against a local Anthropic-compatible fake ----------------------------


@pytest.mark.parametrize(("instrumentation", "event_name"),
                         [("openinference", "messages.create"), ("traceloop", "anthropic.chat")])
def test_the_anthropic_example_delivers_the_question_and_the_tool_use_round_trip(
    local_api: RunningServer, instrumentation: str, event_name: str
) -> None:
    with run_fake_anthropic() as fake:
        env = example_env(local_api, ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="test",
                          OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
        env = {k: v for k, v in env.items() if k != "ANTHROPIC_OPEN_TELEMETRY"}  # the example's own default
        session_id = run([sys.executable, "examples/anthropic_app.py", instrumentation], env).strip()
    with local_api.store() as store:
        events = store.session_events(session_id)
    models = sorted((e for e in events if e["event_type"] == "model"), key=lambda e: e["start_time"])
    assert len(events) == 1 + len(models) == 1 + len(fake.exchanges) == 4  # the client's own spans are off
    assert all(m["event_name"] == event_name and m["parent_id"] == session_id for m in models)
    question, asked, answered = models
    assert (question["config"]["model"], question["config"]["provider"]) == ("claude-haiku-4-5", "anthropic")
    assert question["inputs"]["chat_history"][0] == {"role": "system", "content": "You are a terse assistant."}
    [call] = asked["outputs"]["tool_calls"]
    tool_use = fake.exchanges[1].response["content"][1]
    assert (call["id"], call["function"]["name"]) == (tool_use["id"], "get_weather")
    assert answered["inputs"]["chat_history"][-1] == {"role": "tool", "tool_call_id": tool_use["id"],
                                                      "content": "sunny, 21 C in Paris"}
    assert answered["outputs"]["content"] == fake.exchanges[2].response["content"][0]["text"]
    usage = fake.exchanges[0].response["usage"]
    assert (question["metadata"]["prompt_tokens"], question["metadata"]["completion_tokens"]) == (
        usage["input_tokens"], usage["output_tokens"])


# -- an OpenAI Agents SDK agent through each instrumentation, on the fake's Responses API ----------------------------


@pytest.mark.parametrize(("instrumentation", "agent_name", "tool_name"),
                         [("openinference", "weather agent", "get_weather"),
                          ("traceloop", "weather agent.agent", "get_weather.tool")])
def test_the_openai_agents_example_delivers_the_agent_its_model_calls_and_its_tool(
    local_api: RunningServer, fake_openai: FakeOpenAI, instrumentation: str, agent_name: str, tool_name: str
) -> None:
    session_id = run([sys.executable, "examples/openai_agents.py", instrumentation],
                     openai_env(local_api, fake_openai)).strip()
    with local_api.store() as store:
        events = store.session_events(session_id)
    by_id = {e["event_id"]: e for e in events}
    session = by_id[session_id]
    assert (session["event_type"], session["event_name"]) == ("session", "answer-question")
    assert all(e["parent_id"] in by_id for e in events if e is not session)  # the agent's workflow is in it
    [agent] = [e for e in events if e["event_name"] == agent_name]
    [tool] = [e for e in events if e["event_type"] == "tool"]
    asking, answering = sorted((e for e in events if e["event_type"] == "model"), key=lambda e: e["start_time"])
    assert agent["event_type"] == "chain"
    assert tool["event_name"] == tool_name
    assert (tool["inputs"], tool["outputs"]) == ({"city": "Paris"}, {"result": "sunny, 21 C in Paris"})
    assert asking["config"]["provider"] == "openai"
    assert asking["inputs"]["chat_history"][0] == {"role": "system", "content": "You answer weather questions tersely."}
    assert asking["outputs"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert answering["outputs"]["content"] == "According to the tool: sunny, 21 C in Paris."
    assert all(e.path.endswith("/responses") for e in fake_openai.exchanges)
    assert asking["metadata"]["prompt_tokens"] == fake_openai.exchanges[0].response["usage"]["input_tokens"]
