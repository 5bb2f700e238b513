"""The trainer's store types (durable_finetune/contract.py) are contract/store.schema.json's, the
file generated from src/jobs/contract.ts: the same files, fields, required fields and JSON types.
A field added on one side only fails here; what the trainer writes is validated against the
schema in every test that uses tmp_path (conftest.py) and in test_fixtures.py."""

from __future__ import annotations

import types
import typing

import pytest
from durable_finetune import contract, runs
from store_contract import schema

JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def python_types(tp) -> set[str]:
    """The JSON types a Python annotation allows (a TypedDict or dict is an object)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(python_types(a) for a in typing.get_args(tp)))
    if origin is typing.Literal:
        return {JSON_TYPE[type(a)] for a in typing.get_args(tp)}
    if tp is typing.Any:
        return {"any"}
    if origin is list:
        return {"array"}
    if origin is dict or typing.is_typeddict(tp):
        return {"object"}
    return {JSON_TYPE[tp]}


def schema_types(node: dict) -> set[str]:
    """The JSON types a schema node allows."""
    if "anyOf" in node:
        return set().union(*(schema_types(n) for n in node["anyOf"]))
    if "type" not in node:
        return {"any"}
    return set(node["type"] if isinstance(node["type"], list) else [node["type"]])


def object_of(node: dict) -> dict:
    """The object schema within node (a nullable object is anyOf [object, null])."""
    if "anyOf" in node:
        return next(n for n in node["anyOf"] if n.get("type") == "object")
    return node


def differences(td, node: dict) -> list[str]:
    """How a TypedDict differs from an object schema: fields, required fields and types."""
    node = object_of(node)
    hints = typing.get_type_hints(td)
    props = node["properties"]
    out = [f"{k}: in the schema only" for k in props.keys() - hints.keys()]
    out += [f"{k}: in {td.__name__} only" for k in hints.keys() - props.keys()]
    both, required = hints.keys() & props.keys(), set(node.get("required", []))
    out += [f"{k}: required in the schema, optional in {td.__name__}" for k in both & required - td.__required_keys__]
    out += [f"{k}: optional in the schema, required in {td.__name__}" for k in both & td.__required_keys__ - required]
    for k in both:
        py, js = python_types(hints[k]), schema_types(props[k])
        if "any" in py or "any" in js:
            continue
        if py != js:
            out.append(f"{k}: {sorted(js)} in the schema, {sorted(py)} in {td.__name__}")
    return out


def test_the_trainer_types_every_file_of_the_contract():
    assert sorted(contract.FILES) == sorted(schema()["files"])


@pytest.mark.parametrize("name", sorted(contract.FILES))
def test_each_file_type_matches_the_schema(name):
    assert differences(contract.FILES[name], schema()["$defs"][name]) == []


def test_nested_types_match_the_schema():
    defs = schema()["$defs"]
    output = object_of(defs["status"]["properties"]["output"])
    assert differences(contract.StageOutput, output) == []
    assert differences(contract.Probe, output["properties"]["probe"]) == []
    assert differences(contract.CommittedEntry, defs["committed"]["properties"]["files"]["items"]) == []


def test_names_match_the_schema():
    defs = schema()["$defs"]
    assert list(runs.STAGES) == defs["status"]["properties"]["stage"]["enum"]
    assert list(typing.get_args(contract.State)) == defs["status"]["properties"]["state"]["enum"]
    assert list(typing.get_args(contract.AgentState)) == defs["agent"]["properties"]["state"]["enum"]


def test_a_drifted_type_is_caught():
    """The comparison itself: a field the schema lacks, a missing one, a wrong type."""

    class Drifted(typing.TypedDict):
        step: str
        extra: int

    node = {"type": "object", "properties": {"step": {"type": "integer"}, "job_id": {"type": "string"}}}
    node["required"] = ["step", "job_id"]
    assert sorted(differences(Drifted, node)) == [
        "extra: in Drifted only",
        "job_id: in the schema only",
        "step: ['integer'] in the schema, ['string'] in Drifted",
    ]
