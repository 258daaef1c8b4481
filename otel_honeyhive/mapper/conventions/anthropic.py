"""The `anthropic` Python client's own spans (2.17+, `anthropic.messages.create`): GenAI semantic conventions
(read by `genai.py`) plus a few `anthropic.*` attributes, of which the stop reason is one HoneyHive has a field
for. The client records no `gen_ai.response.finish_reasons`: without this its model events had none."""

from __future__ import annotations

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.rules import MODEL_CALL, Convention, Field
from otel_honeyhive.mapper.values import to_int

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
    ),
)
