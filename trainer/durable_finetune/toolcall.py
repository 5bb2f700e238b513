"""Strict tool-call exact match, mirroring src/eval/toolCall.ts (`tool_call_match`).

The DPO guard probes the task metric during training with this; it must score
an output the way the control plane's score stage will, so the rules follow
parseToolCallStrict + matchToolCall (with the item's tool schema) there:
- the trimmed output is exactly one JSON object with keys `name` (string) and
  `arguments` (object), nothing else;
- the name equals the expected one (trimmed, NFKC, case-folded);
- when the tool is given, the arguments fit its JSON schema (required keys,
  no undeclared keys unless additionalProperties, JSON types, enums);
- the same argument keys, values equal after normalisation (strings trimmed
  and case-folded, numbers numerically, a numeric string equal to its number,
  objects and arrays recursively).
Trimming, numbers and JSON follow JavaScript (jsvalues.py). Both scorers pass
the cases in test/fixtures/toolcall-cases.json.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .jsvalues import is_number, parse_json, to_double, to_number, trim


def parse_strict(output: str) -> dict | None:
    try:
        value = parse_json(trim(output))
    except ValueError:
        return None
    if not isinstance(value, dict) or sorted(value) != ["arguments", "name"]:
        return None
    if not isinstance(value["name"], str) or not isinstance(value["arguments"], dict):
        return None
    return value


def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", trim(s)).lower()


def _equal(a: Any, b: Any) -> bool:
    if is_number(a) or is_number(b):
        return to_number(a) is not None and to_number(a) == to_number(b)
    if isinstance(a, str) and isinstance(b, str):
        return _norm(a) == _norm(b)
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and _equal(v, b[k]) for k, v in a.items())
    return a == b and type(a) is type(b)


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality as JSON Schema's enum means it: numbers by value, strings exactly, arrays in order, objects by keys."""
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and to_double(a) == to_double(b)
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same_json, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and _same_json(v, b[k]) for k, v in a.items())
    return a == b and type(a) is type(b)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(v), "unknown")


def _has_type(v: Any, t: str) -> bool:
    return _json_type(v) == t or (t == "number" and _json_type(v) == "integer")


def _fits(value: Any, schema: dict) -> bool:
    if "enum" in schema and not any(_same_json(e, value) for e in schema["enum"]):
        return False
    types = schema.get("type")
    types = [] if types is None else types if isinstance(types, list) else [types]
    if types and not any(_has_type(value, t) for t in types):
        return False
    if isinstance(value, dict) and ("properties" in schema or "required" in schema):
        props = schema.get("properties") or {}
        if any(k not in value for k in schema.get("required") or []):
            return False
        extra = schema.get("additionalProperties")
        if extra is not True and not isinstance(extra, dict) and any(k not in props for k in value):
            return False
        if not all(_fits(v, props[k]) for k, v in value.items() if isinstance(props.get(k), dict)):
            return False
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return all(_fits(v, schema["items"]) for v in value)
    return True


def matches(expected: dict, output: str, tool: dict | None = None) -> bool:
    actual = parse_strict(output)
    if actual is None or _norm(expected["name"]) != _norm(actual["name"]):
        return False
    if tool is not None and not _fits(actual["arguments"], {"type": "object", **(tool.get("parameters") or {})}):
        return False
    exp, act = expected.get("arguments") or {}, actual["arguments"]
    return set(exp) == set(act) and all(_equal(v, act[k]) for k, v in exp.items())


def item_tool(item: dict) -> dict | None:
    """The eval item's tool named exactly by its expected call, as score.ts picks it."""
    name = item["expected_call"]["name"]
    return next((t for t in item.get("tools") or [] if t.get("name") == name), None)
