"""What the model sees: the tools in a system prompt (every model), or passed to a chat template that renders tools.

The default model's template (SmolLM2's ChatML) has no ``tools`` support, hence the system prompt by default;
``tool_format: chat_template`` is for models whose template asks for ``<tool_call>`` blocks (Qwen2.5, Llama 3.1).
"""

from __future__ import annotations

import json
from typing import Any

from reflectrl.tasks.base import Example, Messages

SYSTEM_PROMPT = (
    "You are an expert in composing function calls. You are given a question and a set of possible "
    "functions. Make the function call(s) that answer the question.\n\n"
    "The functions you can call (JSON):\n{functions}\n\n"
    "Answer with only a JSON list of calls, in this format:\n"
    '[{{"name": "function_name", "arguments": {{"argument_name": value}}}}]\n'
    "Use several calls if the question needs several. If none of the functions fits, answer []."
)

_JSON_SCHEMA_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}


def with_system_prompt(example: Example) -> Messages:
    """The question with the functions listed in a system message; a question with its own system message
    keeps one: ours, a blank line, then the data's."""
    messages = [dict(m) for m in example["messages"]]
    system = SYSTEM_PROMPT.format(functions=json.dumps(example["functions"], ensure_ascii=False))
    if messages and messages[0]["role"] == "system":
        messages[0]["content"] = system + "\n\n" + messages[0]["content"]
        return messages
    return [{"role": "system", "content": system}, *messages]


def template_tools(example: Example) -> list[dict[str, Any]]:
    """The functions as OpenAI-style tools, ``{"type": "function", "function": {...}}``, with JSON Schema types."""
    out = []
    for f in example["functions"]:
        if example["source"] == "bfcl":
            parameters = _bfcl_json_schema(f["parameters"])
        else:
            props, required = {}, []
            for name, spec in f.get("parameters", {}).items():
                kind, optional = _xlam_type(str(spec.get("type", "str")))
                props[name] = {"type": kind, "description": spec.get("description", "")}
                if not optional and "default" not in spec:
                    required.append(name)
            parameters = {"type": "object", "properties": props, "required": required}
        fn = {"name": f["name"], "description": f.get("description", ""), "parameters": parameters}
        out.append({"type": "function", "function": fn})
    return out


def _xlam_type(text: str) -> tuple[str, bool]:
    """JSON-schema type of an xLAM type string (``"List[int]"``, ``"float, optional"``) and whether the
    parameter is optional."""
    base = text.split(",")[0].strip().lower()
    optional = "optional" in text.lower()
    for prefix, kind in (("str", "string"), ("int", "integer"), ("float", "number"), ("bool", "boolean")):
        if base == prefix:
            return kind, optional
    if base.startswith(("list", "tuple", "set")):
        return "array", optional
    if base.startswith("dict"):
        return "object", optional
    return "string", optional


def _bfcl_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """BFCL's parameter schema as JSON Schema (for chat templates with tool support)."""
    out = {k: v for k, v in schema.items() if k not in ("type", "properties", "items")}
    out["type"] = _JSON_SCHEMA_TYPES.get(schema.get("type", "string"), schema.get("type", "string"))
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _bfcl_json_schema(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = _bfcl_json_schema(schema["items"])
    return out
