"""Chat messages in HoneyHive's shape (`{role, content, tool_calls?, …}`) from the ways conventions carry them.

- indexed keys: `gen_ai.prompt.0.role`, `llm.input_messages.0.message.tool_calls.0.tool_call.function.name`
- the parts format of the current GenAI semantic conventions: `[{"role", "parts": [{"type": "text", …}]}]`
- plain JSON lists of `{role, content}` (OpenLLMetry span events, older SDKs)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.values import child_object, maybe_json, parse_json, to_int

_MESSAGE_FIELDS = {
    "role": "role",
    "content": "content",
    "name": "name",
    "tool_call_id": "tool_call_id",
    "finish_reason": "finish_reason",
}
_SKIP_SEGMENTS = frozenset({"message", "tool_call", "message_content"})


def indexed_suffix(suffix: str) -> bool:
    """Whether a key under a message prefix belongs to a message: `{i}.field…` (not `prompt_filter_results`)."""
    head, dot, rest = suffix.partition(".")
    return bool(dot and rest and head.isascii() and head.isdigit())


def _group_by_index(pairs: Iterable[tuple[str, Any]]) -> dict[int, list[tuple[list[str], Any]]]:
    groups: dict[int, list[tuple[list[str], Any]]] = {}
    for suffix, value in pairs:
        head, _, rest = suffix.partition(".")
        if not rest or not (head.isascii() and head.isdigit()):
            continue  # e.g. gen_ai.prompt.prompt_filter_results: not a message
        parts = [p for p in rest.split(".") if p not in _SKIP_SEGMENTS]
        if parts:
            groups.setdefault(int(head), []).append((parts, value))
    return groups


def _tool_call(fields: list[tuple[list[str], Any]]) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function"}
    function: dict[str, Any] = {}
    for parts, value in fields:
        if parts[0] == "function" and len(parts) > 1:
            function[".".join(parts[1:])] = jsonable(value)
        elif parts[0] in ("name", "arguments") and len(parts) == 1:
            function[parts[0]] = jsonable(value)
        elif parts[0] in ("id", "type") and len(parts) == 1:
            call[parts[0]] = jsonable(value)
        else:
            call[".".join(parts)] = jsonable(value)
    call["function"] = function
    return call


def _message(fields: list[tuple[list[str], Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {}
    calls: dict[int, list[tuple[list[str], Any]]] = {}
    contents: dict[int, list[tuple[list[str], Any]]] = {}
    for parts, value in fields:
        key = parts[0]
        if key == "tool_calls" and len(parts) > 2 and parts[1].isascii() and parts[1].isdigit():
            calls.setdefault(int(parts[1]), []).append((parts[2:], value))
        elif key == "contents" and len(parts) > 2 and parts[1].isascii() and parts[1].isdigit():
            contents.setdefault(int(parts[1]), []).append((parts[2:], value))
        elif key in _MESSAGE_FIELDS and len(parts) == 1:
            message[_MESSAGE_FIELDS[key]] = _content(value) if key == "content" else jsonable(value)
        else:
            message[".".join(parts)] = jsonable(value)
    part_calls: list[dict[str, Any]] = []
    if contents and "content" not in message:
        texts: list[str] = []
        others: list[dict[str, Any]] = []
        for i in sorted(contents):
            if any(parts[0] == "function" for parts, _ in contents[i]):
                # A tool call carried as a content part (OpenInference's Anthropic instrumentation: `tool_use`
                # parts with `tool_call.*` keys): a tool call like the others, not a part with dotted keys.
                part_calls.append(_tool_call([(p, v) for p, v in contents[i] if p != ["type"]]))
                continue
            item = _nested(contents[i])
            if _is_text(item):
                texts.append(str(item["text"]))
            else:
                others.append(_semconv_part(item))
        if texts or not (others or part_calls):
            message["content"] = TEXT_SEPARATOR.join(texts)
        if others:
            message["parts"] = others
    if calls or part_calls:
        tool_calls = [_tool_call(calls[i]) for i in sorted(calls)]
        known = {c.get("id") for c in tool_calls}  # the same call is often under `tool_calls` too: kept once
        tool_calls += [c for c in part_calls if c.get("id") is None or c.get("id") not in known]
        message["tool_calls"] = tool_calls
    return message


def _content(value: Any) -> Any:
    """A flattened message's content. Text stays text, even text that looks like JSON (a user may well type
    `{"a": 1}`); a JSON list of typed parts, which is how instrumentations flatten multimodal content, becomes
    that list, or its text when it holds only text blocks."""
    if isinstance(value, str) and value[:1] == "[":
        try:
            parsed = parse_json(value)
        except ValueError:
            return value  # truncated, or not JSON after all: kept as it came
        if isinstance(parsed, list) and parsed and all(isinstance(p, dict) and "type" in p for p in parsed):
            text = _text_blocks(parsed)
            return text if text is not None else parsed
        return value
    return jsonable(value)


def _nested(fields: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """One content part from its keys (`image.image.url`) as nested objects, never a dotted key. A value whose
    key is also the parent of others (rare) is kept under "" beside them."""
    item: dict[str, Any] = {}
    for parts, value in fields:
        node = item
        for segment in parts[:-1]:
            node = child_object(node, segment)
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict):
            node[leaf][""] = jsonable(value)
        else:
            node[leaf] = jsonable(value)
    return item


def _semconv_part(item: dict[str, Any]) -> dict[str, Any]:
    """A non-text OpenInference content part as the GenAI semantic conventions' part of that kind
    (https://opentelemetry.io/docs/specs/semconv/gen-ai/): an image (`image.image.url`) is a `uri` part, a
    reasoning part's text is its `content`; other fields are kept, and other kinds are kept as they came."""
    kind = item.get("type")
    if kind == "reasoning" and "text" in item and "content" not in item:
        return {"type": "reasoning", "content": item["text"], **{k: v for k, v in item.items()
                                                                  if k not in ("type", "text")}}
    if kind == "image":
        image = item.get("image")
        inner = image.get("image") if isinstance(image, dict) else None
        url = inner.get("url") if isinstance(inner, dict) else None
        if isinstance(image, dict) and isinstance(inner, dict) and isinstance(url, str):
            part: dict[str, Any] = {"type": "uri", "modality": "image", "uri": url}
            for source, used in ((inner, ("url",)), (image, ("image",)), (item, ("type", "image"))):
                for key, value in source.items():
                    if key not in used:
                        part.setdefault(key, value)
            return part
    return item


def _is_text(item: dict[str, Any]) -> bool:
    return item.get("type", "text") == "text" and "text" in item


TEXT_SEPARATOR = "\n"
"""Between the separate text parts of one message (system blocks, a reply's text blocks): they are paragraphs,
not pieces of one (the chunks of a stream, which are, are joined with nothing)."""


def indexed_messages(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Messages from `{i}.role`, `{i}.content` … suffixes, in numeric index order ("10" after "2")."""
    groups = _group_by_index(pairs)
    if not groups:
        raise ValueError("no indexed message keys")
    return [_message(groups[i]) for i in sorted(groups)]


def _parts_message(raw: Any) -> dict[str, Any]:
    """One message in the parts format (or a plain one). Tool results never get here from `json_messages`
    (`_turn` makes each its own message); where one does, it is kept as a part like any other."""
    if not isinstance(raw, dict):
        raise ValueError("a message must be an object")
    if "parts" not in raw:
        plain = {k: jsonable(v) for k, v in raw.items()}
        text = _text_blocks(plain.get("content"))
        if text is not None:
            plain["content"] = text
        return plain
    message: dict[str, Any] = {"role": raw.get("role")}
    texts: list[str] = []
    others: list[Any] = []
    calls: list[dict[str, Any]] = []
    for part in raw.get("parts") or ():
        if not isinstance(part, dict):
            others.append(jsonable(part))
            continue
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("content", ""))
            block = _serialised_block(text)
            if block is None:
                texts.append(text)
            elif block.get("type") == "function":
                calls.append(block)
            else:
                others.append(block)
        elif kind == "tool_call":
            calls.append(_call(part.get("id"), part.get("name"), part.get("arguments")))
        else:
            others.append(jsonable(part))
    if texts or not (calls or others):
        message["content"] = TEXT_SEPARATOR.join(texts)
    if others:
        message["parts"] = others
    if calls:
        message["tool_calls"] = _distinct_calls(calls)
    for key, value in raw.items():
        if key not in ("role", "parts"):
            message[key] = jsonable(value)
    return message


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else jsonable(arguments)}}


def _tool_use(block: dict[str, Any], arguments: str) -> dict[str, Any] | None:
    name = block.get("name")
    return _call(block.get("id"), name, block.get(arguments)) if isinstance(name, str) and name else None


def _reasoning(block: dict[str, Any], text: str) -> dict[str, Any] | None:
    content = block.get(text)
    if not isinstance(content, str):
        return None
    return {"type": "reasoning", "content": content,
            **{k: jsonable(v) for k, v in block.items() if k not in ("type", text)}}


_SERIALISED_BLOCKS: dict[str, tuple[Callable[[dict[str, Any], str], dict[str, Any] | None], str]] = {
    "tool_use": (_tool_use, "input"),  # Anthropic's
    "tool_call": (_tool_use, "args"),  # LangChain's standard content block
    "thinking": (_reasoning, "thinking"),  # Anthropic's
    "reasoning": (_reasoning, "reasoning"),  # LangChain's standard content block
}
"""Content blocks, by type, that Traceloop's LangChain instrumentation records as a text part holding the block's
JSON (it knows text and image blocks only): a tool call (a `tool_use` beside the `tool_call` part the message's
`tool_calls` give it, the same call) or a reasoning part, as the other conventions give them; the field read."""
_BLOCK_JSON = '{"type": "'
"""How that JSON starts (`json.dumps` of a dict whose first key is `type`): no other text is parsed."""


def _serialised_block(text: str) -> dict[str, Any] | None:
    """The tool call (`type` "function") or part a text part is the JSON of, or None: any other text, or the JSON
    of another block or of one that lacks what makes it one, stays text."""
    if not text.startswith(_BLOCK_JSON):
        return None
    try:
        block = parse_json(text)
    except ValueError:
        return None
    kind = block.get("type") if isinstance(block, dict) else None
    known = _SERIALISED_BLOCKS.get(kind) if isinstance(kind, str) else None
    return known[0](block, known[1]) if known is not None else None


def _distinct_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls, each id once (the first): a block's call and the `tool_call` part repeating it are one call."""
    seen: set[Any] = set()
    kept: list[dict[str, Any]] = []
    for call in calls:
        call_id = call.get("id")
        if call_id is None or call_id == "" or call_id not in seen:
            seen.add(call_id)
            kept.append(call)
    return kept


def _dump(value: Any) -> str:
    import orjson

    return orjson.dumps(jsonable(value)).decode()


def json_messages(value: Any) -> list[dict[str, Any]]:
    """Messages from a JSON string or sequence, in the parts format or as plain `{role, content}` objects."""
    data = value if isinstance(value, (list, tuple)) else parse_json(value)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, (list, tuple)):
        raise ValueError("messages must be a JSON array")
    messages: list[dict[str, Any]] = []
    for raw in data:
        messages.extend(_turn(raw if isinstance(raw, dict) else maybe_json(raw)))
    return messages


def _text_blocks(value: Any) -> str | None:
    """The text of content given as text blocks (`[{"type": "text", "text": …}]`, Anthropic's and OpenAI's
    shape: a tool result, a flattened message's content), or None."""
    if isinstance(value, list) and value and all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in value
    ):
        return TEXT_SEPARATOR.join(b["text"] for b in value)
    return None


def _is_tool_result(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "tool_call_response"


def _turn(raw: Any) -> list[dict[str, Any]]:
    """One turn's messages. A turn that returns tool results (Anthropic's `tool_result` blocks, which the parts
    format records as `tool_call_response` parts of a `user` message, maybe beside text; several results in one
    `tool` message) is split, in the order of its parts: one `tool` message per result, as OpenAI's shape and
    OpenInference have them, so each result keeps its own `tool_call_id`; each run of other parts is a message
    of the turn's own role. The turn's other fields go on its last message."""
    parts = raw.get("parts") if isinstance(raw, dict) else None
    if not isinstance(parts, (list, tuple)) or not any(_is_tool_result(p) for p in parts):
        return [_parts_message(raw)]
    role = raw.get("role")
    messages: list[dict[str, Any]] = []
    run: list[Any] = []
    for part in parts:
        if not _is_tool_result(part):
            run.append(part)
            continue
        if run:
            messages.append(_parts_message({"role": role, "parts": run}))
            run = []
        messages.append(_tool_result(part))
    if run:
        messages.append(_parts_message({"role": role, "parts": run}))
    for key, value in raw.items():
        if key not in ("role", "parts"):
            messages[-1][key] = jsonable(value)
    return messages


def _tool_result(part: dict[str, Any]) -> dict[str, Any]:
    """A `tool_call_response` part as a `tool` message: text stays text, text blocks (also as JSON text) become
    their text, any other result its JSON."""
    response = part.get("response", part.get("result"))
    if isinstance(response, str):
        # Traceloop's LangChain instrumentation records a result given as content blocks as their JSON text.
        text = _json_text_blocks(response)
        return {"role": "tool", "tool_call_id": part.get("id"), "content": response if text is None else text}
    text = _text_blocks(response)
    return {"role": "tool", "tool_call_id": part.get("id"), "content": text if text is not None else _dump(response)}


def _json_text_blocks(value: str) -> str | None:
    """The text of text blocks given as JSON text, or None (for any other text)."""
    if value[:1] != "[":
        return None
    try:
        return _text_blocks(parse_json(value))
    except ValueError:
        return None


def system_instructions(value: Any) -> dict[str, Any]:
    """`gen_ai.system_instructions` (a JSON list of parts, or plain text) as one system message."""
    data = maybe_json(value)
    if isinstance(data, str):
        return {"role": "system", "content": data}
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("system instructions must be text or a list of parts")
    return _parts_message({"role": "system", "parts": data})


_ASSEMBLED_KEYS = ("content", "tool_calls", "parts")


def _chunks_of_one_answer(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether several output messages are the chunks of one streamed answer rather than alternative choices:
    every one but the last says explicitly that it did not finish (an empty finish reason, as
    opentelemetry-instrumentation-google-genai records each chunk of a stream), all in one role and at one
    choice index, and their contents are text."""
    if len(messages) < 2:
        return False
    if any("finish_reason" not in m or m["finish_reason"] not in ("", None) for m in messages[:-1]):
        return False
    role, index = messages[0].get("role"), messages[0].get("index")
    return all(m.get("role") == role and m.get("index") == index and isinstance(m.get("content", ""), str)
               for m in messages)


def _assembled(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One message from several that are one answer (the chunks of a stream, or the parallel tool calls of a turn):
    texts joined with nothing (a chunk is a piece of a text, not a paragraph), tool calls and other parts in order,
    every other field from the last message that has it (the finish reason is the last chunk's)."""
    answer: dict[str, Any] = {"role": messages[0].get("role")}
    texts: list[str] = []
    calls: list[Any] = []
    parts: list[Any] = []
    for message in messages:
        if "content" in message:
            texts.append(message["content"])
        calls.extend(message.get("tool_calls") or ())
        parts.extend(message.get("parts") or ())
        for key, value in message.items():
            if key not in _ASSEMBLED_KEYS and (value not in ("", None) or key not in answer):
                answer[key] = value
    if texts or not (calls or parts):
        answer["content"] = "".join(texts)
    if parts:
        answer["parts"] = parts
    if calls:
        answer["tool_calls"] = calls
    return answer


_ASSISTANT_ROLES = ("assistant", "unknown", None)
"""What an output message's role may be for it to be the model's own turn: Traceloop's LangChain instrumentation
records a streamed reply's role as "unknown", and some instrumentations record none."""


def _only_tool_calls(message: dict[str, Any]) -> bool:
    return (message.get("role") in _ASSISTANT_ROLES and bool(message.get("tool_calls"))
            and message.get("content") in ("", None) and not message.get("parts"))


def _parallel_tool_calls(messages: Sequence[dict[str, Any]], choice_count: Any) -> bool:
    """Whether several output messages are the parallel tool calls of one turn rather than alternative choices
    (Traceloop's OpenAI Agents instrumentation records each `function_call` item of a Responses-API turn as an
    output message of its own): the span did not ask for several choices (`gen_ai.request.choice.count`, which
    the official instrumentations set for `n` / `candidate_count`), and every message is an assistant message
    with tool calls and no text, all at one choice index."""
    if len(messages) < 2 or _asked_for_choices(choice_count):
        return False
    index = messages[0].get("index")
    return all(_only_tool_calls(m) and m.get("index") == index for m in messages)


def _asked_for_choices(choice_count: Any) -> bool:
    if choice_count is None:
        return False
    try:
        return to_int(choice_count) > 1
    except ValueError:
        return False  # not a count: as if none was given


def output_from_messages(messages: Sequence[dict[str, Any]], choice_count: Any = None) -> dict[str, Any]:
    """A model event's `outputs`: the first message; every choice under `choices` when there are several. The
    chunks of one streamed answer, recorded as a message each, are assembled into that answer first, and so are
    the parallel tool calls of one turn recorded as a message each, unless `choice_count` (the span's
    `gen_ai.request.choice.count`) says the span asked for several choices."""
    if not messages:
        raise ValueError("no output message")
    if _chunks_of_one_answer(messages) or _parallel_tool_calls(messages, choice_count):
        messages = [_assembled(messages)]
    choices = [_output_role(m) for m in messages]
    first = dict(choices[0])
    if first.get("finish_reason") == "":  # no reason given (Traceloop's LangChain instrumentation records "")
        del first["finish_reason"]
    if len(choices) > 1:
        first["choices"] = choices
    return first


def _output_role(message: dict[str, Any]) -> dict[str, Any]:
    """An output message is the model's: a missing role, or Traceloop's "unknown", is "assistant"."""
    out = dict(message)
    if out.get("role") in ("unknown", None):
        out["role"] = "assistant"
    return out


def history_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input messages as a chat history: consecutive assistant messages that each carry only tool calls (the
    Agents SDK's `function_call` items, one per call, as Traceloop's and OpenInference's instrumentations record
    them) are the one turn that made those calls, as every chat API has it (tool results follow the turn that
    asked for them), so they become one message with the calls in order."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        previous = merged[-1] if merged else None
        if previous is not None and _bare_tool_calls(previous) and _bare_tool_calls(message):
            merged[-1] = {"role": "assistant", "tool_calls": [*previous["tool_calls"], *message["tool_calls"]]}
        else:
            merged.append(message)
    return merged


def _bare_tool_calls(message: dict[str, Any]) -> bool:
    """An assistant message made of tool calls and nothing else (not even a name or a finish reason)."""
    calls = message.get("tool_calls")
    return len(message) == 2 and message.get("role") == "assistant" and isinstance(calls, list) and bool(calls)


def indexed_history(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """`indexed_messages` as a chat history (`history_messages`)."""
    return history_messages(indexed_messages(pairs))
