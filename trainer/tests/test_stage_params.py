"""The trainer's typed stage params (durable_finetune/params.py) against the control plane's
contract/stage-params.schema.json: the same stages, knobs, required ones and types. A knob added
on one side only fails here; `npm run build && node dist/src/config/stageParamsFile.js`
regenerates the file after a change to the config schema."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

import pytest
from durable_finetune.params import STAGE_PARAMS, ParamsInvalid, stage_params
from stage_params import job_params, stage_schemas

# What a test must give besides the defaults: knobs the control plane resolves per run.
RESOLVED = {"preflight": {"expected_gpus": None}, "generate": {"models": {"base": "runs/r/inputs/base-model"}}}


def json_kinds(schema: dict) -> set[str]:
    """What a JSON value may be: its types, and the constants of an enum or const."""
    if "anyOf" in schema:
        return set().union(*(json_kinds(s) for s in schema["anyOf"]))
    if "const" in schema:
        return {f"const:{schema['const']}"}
    if "enum" in schema:
        return {f"const:{v}" for v in schema["enum"]}
    kinds = schema.get("type", [])
    return set([kinds] if isinstance(kinds, str) else kinds)


def python_kinds(hint: Any) -> set[str]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return set().union(*(python_kinds(a) for a in args))
    if origin is Literal:
        return {f"const:{a}" for a in args}
    if dataclasses.is_dataclass(hint) or origin is dict:
        return {"object"}
    if origin is list:
        return {"array"}
    return {{int: "integer", float: "number", bool: "boolean", str: "string", type(None): "null"}[hint]}


def drift(cls: type, schema: dict, where: str) -> list[str]:
    """How `cls` differs from `schema`: knobs on one side only, required or not, types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    props, required = schema["properties"], set(schema.get("required", []))
    problems = [f"{where}.{n}: in the schema only" for n in props if n not in fields]
    problems += [f"{where}.{n}: in params.py only" for n in fields if n not in props]
    for name in fields.keys() & props.keys():
        has_default = fields[name].default is not dataclasses.MISSING
        if has_default == (name in required):
            problems.append(f"{where}.{name}: required in {'params.py' if not has_default else 'the schema'} only")
        hint, prop = hints[name], props[name]
        if dataclasses.is_dataclass(hint):
            problems += drift(hint, prop, f"{where}.{name}")
            continue
        # An optional section's None stands for its absence from the job, not for a null in it.
        kinds = python_kinds(hint) - ({"null"} if has_default and fields[name].default is None else set())
        if kinds != json_kinds(prop):
            problems.append(f"{where}.{name}: params.py {sorted(kinds)}, schema {sorted(json_kinds(prop))}")
    return problems


def test_the_trainer_has_typed_params_for_exactly_the_stages_of_the_schema():
    assert sorted(STAGE_PARAMS) == sorted(stage_schemas())


@pytest.mark.parametrize("stage", sorted(STAGE_PARAMS))
def test_typed_params_match_the_schema_knob_for_knob(stage):
    assert drift(STAGE_PARAMS[stage], stage_schemas()[stage], stage) == []


@pytest.mark.parametrize("stage", sorted(STAGE_PARAMS))
def test_the_config_defaults_build_every_stage_params(stage):
    p = stage_params(stage, job_params(stage, **RESOLVED.get(stage, {})))
    assert isinstance(p, STAGE_PARAMS[stage])


def test_a_missing_knob_is_refused_naming_it():
    raw = job_params("sft")
    del raw["noop_check_steps"]
    with pytest.raises(ParamsInvalid, match=r"params \(sft\)\.noop_check_steps is missing"):
        stage_params("sft", raw)
    with pytest.raises(ParamsInvalid, match=r"params \(dpo\)\.lora\.alpha is missing"):
        stage_params(
            "dpo",
            {
                **job_params("dpo"),
                "lora": {"r": 8, "dropout": 0, "target_modules": "all-linear", "modules_to_save": []},
            },
        )


def test_a_knob_the_stage_does_not_have_or_a_wrong_type_is_refused():
    with pytest.raises(ParamsInvalid, match=r"params \(merge\): probe_every is not a knob of this stage"):
        stage_params("merge", job_params("merge", probe_every=3))
    with pytest.raises(ParamsInvalid, match=r"params \(sft\)\.max_steps must be a whole number, got '10'"):
        stage_params("sft", job_params("sft", max_steps="10"))
    with pytest.raises(ParamsInvalid, match=r"params \(dpo\)\.ranks must be 'auto' or a whole number, got 1.5"):
        stage_params("dpo", job_params("dpo", ranks=1.5))


def test_test_only_debug_keys_and_the_optional_tracking_section_are_accepted():
    p = stage_params(
        "sft", job_params("sft", debug_inject="oom", tracking={"mlflow": {"tracking_uri": "http://m:5000"}})
    )
    assert p.tracking == {"mlflow": {"tracking_uri": "http://m:5000"}}
    assert stage_params("dpo", job_params("dpo")).tracking is None


def test_numbers_arrive_as_the_trainer_uses_them():
    p = stage_params("dpo", job_params("dpo", beta=1, lora={"alpha": 16}))
    assert p.beta == 1.0 and isinstance(p.beta, float) and p.lora.alpha == 16 and p.lora.r == 16
    assert (
        p.continuity_tolerance == "auto"
        and stage_params("merge", job_params("merge", continuity_tolerance=0.5)).continuity_tolerance == 0.5
    )
