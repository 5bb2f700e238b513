"""The DPO guard's task probe scores tool calls the way eval does: the cases of
test/fixtures/toolcall-cases.json, which test/unit/toolcall-cases.test.ts runs
through the TypeScript scorer."""

import json

import pytest
from conftest import ROOT
from durable_finetune.toolcall import item_tool, matches

SPEC = json.loads((ROOT / "test/fixtures/toolcall-cases.json").read_text())


@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["case"] for c in SPEC["cases"]])
def test_spec_case(case):
    item = SPEC["items"][case["item"]]
    assert matches(item["expected_call"], case["output"], item_tool(item)) is bool(case["tool_call_match"])


def test_item_tool_is_picked_by_exact_name():
    item = SPEC["items"]["convert"]
    assert item_tool(item) is item["tools"][1]
    assert item_tool({**item, "tools": [{"name": "Convert"}]}) is None
    assert item_tool(SPEC["items"]["convert_without_tools"]) is None


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_nesting_deeper_than_the_python_stack_is_no_match_not_an_error(depth):
    # json.loads raises RecursionError there, which would end the DPO stage; JSON.parse reads it.
    expected = {"name": "f", "arguments": {"x": 1}}
    assert matches(expected, "[" * depth) is False
    assert matches(expected, '{"name": "f", "arguments": {"x": ' + "[" * depth + "]" * depth + "}}") is False
