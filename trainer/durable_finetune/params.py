"""Each stage's params: one typed object, built from job.json's `params`.

The control plane sends every knob of a stage in every job, with the config's defaults filled
in (src/config/stageParams.ts, contract/stage-params.schema.json); the trainer has no defaults
of its own. A job that lacks a knob, names one the stage does not have, or gives one a value of
the wrong type is refused before any work (`bad_data`), naming the field. Keys `debug_*` are
test-only and read apart (faults.py debug_param). trainer/tests/test_stage_params.py
fails when these classes drift from the schema file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

Dtype = Literal["float32", "bfloat16"]
Auto = Literal["auto"]
SCHEMA_FILE = "contract/stage-params.schema.json"


class ParamsInvalid(ValueError):
    """A job's params do not fit its stage: the message names the field and the fix."""


@dataclass(frozen=True, kw_only=True)
class Lora:
    r: int
    alpha: float
    dropout: float
    target_modules: Literal["all-linear"] | list[str]
    modules_to_save: list[str]


@dataclass(frozen=True, kw_only=True)
class PreflightParams:
    ranks: int
    gpus: Auto | int  # the config's value, reported; expected_gpus is what the check uses
    timeout_s: int
    min_free_disk_gb: float
    expected_gpus: int | None
    dtype: Dtype


@dataclass(frozen=True, kw_only=True)
class TrainingParams:
    """The knobs sft and dpo share (training.py)."""

    max_steps: int
    batch_size: int
    learning_rate: float
    save_steps: int
    max_length: int
    seed: int
    logging_steps: int
    warmup_steps: int
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"]
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    noop_check_steps: int
    ranks: Auto | int
    lora: Lora
    dtype: Dtype
    # Not a knob: the config's tracking: section, sent only when it names a backend.
    tracking: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class SftParams(TrainingParams):
    pass


@dataclass(frozen=True, kw_only=True)
class DpoParams(TrainingParams):
    beta: float
    sft_loss_weight: float
    collapse_logps_drop: float
    collapse_early_steps: int
    collapse_loss_floor: float
    probe_every: int
    probe_items: int
    probe_margin: float
    probe_max_new_tokens: int
    continuity_tolerance: Auto | float


@dataclass(frozen=True, kw_only=True)
class MergeParams:
    tolerance: float
    continuity_tolerance: Auto | float
    dtype: Dtype


@dataclass(frozen=True, kw_only=True)
class GenerateParams:
    max_new_tokens: int
    batch_size: int
    seed: int
    dtype: Dtype
    models: dict[str, str]


STAGE_PARAMS: dict[str, type] = {
    "preflight": PreflightParams,
    "sft": SftParams,
    "merge": MergeParams,
    "dpo": DpoParams,
    "generate": GenerateParams,
}


def stage_params(stage: str, raw: dict | None):
    """The typed params of a `stage` job from its raw `params`; ParamsInvalid names what is wrong."""
    if stage not in STAGE_PARAMS:
        raise ParamsInvalid(f"stage {stage!r} has no params; stages: {', '.join(STAGE_PARAMS)}")
    return build(STAGE_PARAMS[stage], raw if raw is not None else {}, f"params ({stage})")


def build(cls: type, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise ParamsInvalid(f"{where} must be an object, got {_shown(raw)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in raw if k not in known and not str(k).startswith("debug_"))
    if unknown:
        raise ParamsInvalid(
            f"{where}: {', '.join(unknown)} {'is not a knob' if len(unknown) == 1 else 'are not knobs'} "
            f"of this stage; its knobs: {', '.join(known)} ({SCHEMA_FILE})"
        )
    values = {}
    for name, f in known.items():
        if name not in raw:
            if f.default is dataclasses.MISSING:
                raise ParamsInvalid(
                    f"{where}.{name} is missing: the control plane sends every knob with the "
                    f"config's default ({SCHEMA_FILE}); a job written by hand must name it too"
                )
            continue
        values[name] = _value(raw[name], hints[name], f"{where}.{name}")
    return cls(**values)


def _value(value: Any, hint: Any, where: str) -> Any:
    """`value` as `hint` describes it, or ParamsInvalid naming `where`."""
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _value(value, option, where)
            except ParamsInvalid:
                continue
    elif origin is Literal:
        if value in args:
            return value
    elif hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, list):
            return [_value(v, args[0], f"{where}[{n}]") for n, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return {str(k): _value(v, args[1], f"{where}.{k}") for k, v in value.items()}
    else:
        raise TypeError(f"{where}: no reader for {hint!r}")
    raise ParamsInvalid(f"{where} must be {_described(hint)}, got {_shown(value)}")


def _described(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_described(a) for a in args)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if dataclasses.is_dataclass(hint):
        return "an object"
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    return names.get(hint) or {list: "a list", dict: "an object"}.get(origin, str(hint))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
