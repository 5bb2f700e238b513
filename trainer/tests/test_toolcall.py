"""The DPO guard's task probe scores tool calls the way src/eval/toolCall.ts does (strict match)."""
import pytest

from durable_finetune.toolcall import item_tool, matches

EXPECTED = {"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}}
TOOL = {"name": "convert", "parameters": {"type": "object", "properties": {"amount": {"type": "number"},
                                                                          "currency": {"type": "string"}},
                                          "required": ["amount", "currency"]}}


@pytest.mark.parametrize("output,tool,ok", [
    ('{"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}}', TOOL, True),
    ('  {"name": " Convert", "arguments": {"currency": "chf ", "amount": 20.0}} ', TOOL, True),
    ('{"name": "convert", "arguments": {"amount": "20", "currency": "CHF"}}', None, True),   # numeric string, no schema
    ('{"name": "convert", "arguments": {"amount": "20", "currency": "CHF"}}', TOOL, False),  # schema wants a number
    ('{"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}', TOOL, False),     # unbalanced
    ('Sure: {"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}}', TOOL, False),  # not strict
    ('{"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}, "id": 1}', TOOL, False),
    ('{"name": "convert", "arguments": {"amount": 20}}', TOOL, False),
    ('{"name": "get_time", "arguments": {"amount": 20, "currency": "CHF"}}', TOOL, False),
    ('{"name": "convert", "arguments": {"amount": NaN, "currency": "CHF"}}', None, False),
    ('{"name": "convert", "arguments": {"amount": true, "currency": "CHF"}}', None, False),
])
def test_strict_match(output, tool, ok):
    assert matches(EXPECTED, output, tool) is ok


def test_item_tool_is_picked_by_exact_name():
    item = {"expected_call": EXPECTED, "tools": [{"name": "get_time"}, TOOL]}
    assert item_tool(item) is TOOL
    assert item_tool({"expected_call": EXPECTED}) is None
