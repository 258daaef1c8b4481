"""The `anthropic` Python client's own spans (2.17+, `anthropic.messages.create`): GenAI semantic conventions
(read by `genai.py`) plus a few `anthropic.*` attributes, of which the stop reason is one HoneyHive has a field
for. The client records no `gen_ai.response.finish_reasons`: without this its model events had none.

Its `anthropic.messages.count_tokens` span carries only the model and the count (no operation name, and no messages
even in content mode): without the rules below it was a `tool` with empty inputs and outputs. It is a model call
whose answer is the count, as OpenInference's instrumentation records the same call (an LLM span whose output is
`{"input_tokens": N}`); the count is not `prompt_tokens`, since counting uses none."""

from __future__ import annotations

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.rules import MODEL_CALL, Convention, Field, when_present
from otel_honeyhive.mapper.values import to_int

COUNTED = "anthropic.message.count_tokens.input_tokens"

CONVENTION: Convention = Convention(
    name="anthropic",
    description="the anthropic client's own spans (anthropic.*)",
    rules=(
        # Ranked after `gen_ai.response.finish_reasons` and OpenInference's `llm.finish_reason`.
        Field("anthropic.message.stop_reason", "metadata.finish_reasons", rank=3, convert=lambda v: [jsonable(v)],
              only=MODEL_CALL),
        # The client's name for what the GenAI conventions call `gen_ai.usage.cache_creation.input_tokens`.
        Field("gen_ai.usage.cache_write.input_tokens", "metadata.cache_creation_input_tokens", rank=2,
              convert=to_int),
        Field(COUNTED, "outputs.input_tokens", rank=11, convert=to_int, only=MODEL_CALL),
    ),
    type_rules=(
        # Before the GenAI conventions' last resort (a model name without messages or usage is no model call).
        when_present((COUNTED,), "model", rank=40),
    ),
)
