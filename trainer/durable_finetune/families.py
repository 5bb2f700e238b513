"""Model families the trainer supports: what a stage must know about an architecture.

A family is picked by the base model's `config.model_type` (config.json). It
says which projections LoRA adapts (`lora.target_modules: all-linear` means
exactly these, not peft's guess) and how prompts reach its chat template
(prompts.py). A model whose `model_type` is not here fails the stage as
`bad_model` before any weights load, naming the supported types.

Whether embeddings are tied is a fact of the checkpoint, not of the family
(Qwen2.5-3B ties them, Qwen2.5-7B does not): `embeddings_tied` reads it from
the config. LoRA never targets lm_head or embed_tokens, so a merge folds the
adapter into the projections only and an untied lm_head ships unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime import StageFailure


@dataclass(frozen=True)
class Family:
    name: str
    # The attention and MLP projections of every decoder layer (the same names in all families).
    lora_targets: tuple[str, ...]
    # The chat template renders `tools=` itself (Llama 3.1 JSON tools, Qwen <tools>, Mistral
    # [AVAILABLE_TOOLS]); else prompts.py writes them into the system turn, as Gemma's docs do.
    tools_in_template: bool = True
    # The template puts the system message into the last user turn only (Mistral): a training
    # conversation that ends with the answer would lose it, so prompts.py folds it in first.
    system_in_last_user: bool = False
    # Qwen3 thinks by default; its documented non-thinking mode (`enable_thinking=False`) ends the
    # generation prompt with an empty <think></think> block. Training renders the same, so the model
    # learns to answer straight after it and an output is the answer alone.
    thinking_off: bool = False

    @property
    def template_kwargs(self) -> dict:
        return {"enable_thinking": False} if self.thinking_off else {}


def _load_families() -> dict[str, Family]:
    """families.json is the one list of supported model types; the control plane reads it too."""
    spec = json.loads(Path(__file__).with_name("families.json").read_text())
    targets = tuple(spec["lora_targets"])
    return {name: Family(name, targets, **flags) for name, flags in spec["families"].items()}


FAMILIES: dict[str, Family] = _load_families()


def family_of(config) -> Family:
    """The family of a transformers config (or anything with `model_type`)."""
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(model_type or "")
    if family is None:
        raise StageFailure(
            "bad_model",
            f"model_type {model_type!r} is not supported; supported: "
            f"{', '.join(sorted(FAMILIES))} (docs/config.md, model families)",
        )
    return family


def model_family(path: str) -> Family:
    """The family of the model folder (or hub id) at `path`, from its config alone."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        # An architecture transformers itself does not know is a KeyError/ValueError on model_type.
        raise StageFailure(
            "bad_model",
            f"cannot read the model config at {path}: {e}; supported model types: {', '.join(sorted(FAMILIES))}",
        ) from None
    return family_of(config)


def embeddings_tied(config) -> bool:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return bool(getattr(text, "tie_word_embeddings", False))


def lora_targets(targets: str | list[str], family: Family) -> list[str]:
    """`lora.target_modules` as module names: `all-linear` is the family's projections."""
    if targets == "all-linear":
        return list(family.lora_targets)
    if isinstance(targets, str):
        return [targets]
    return list(targets)


def decoder_layers(model) -> list[tuple[str, Any]]:
    """(prefix, layer) of each decoder layer: the modules named `...layers.<n>`."""
    import re

    return [(name, mod) for name, mod in model.named_modules() if re.search(r"(^|\.)layers\.\d+$", name)]


def check_targets(model, targets: list[str], family: Family) -> None:
    """Every target names a Linear in every decoder layer (before the adapter is made), else `bad_model`."""
    import torch

    layers = decoder_layers(model)
    if not layers:
        raise StageFailure("bad_model", f"found no decoder layers (`layers.<n>`) in the {family.name} model")
    linear = {
        n.rsplit(".", 1)[-1] for _, layer in layers for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)
    }
    for prefix, layer in layers:
        names = [n for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)]
        # peft matches a target by the module name's suffix: `q_proj` or `self_attn.q_proj`.
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            raise StageFailure(
                "bad_model",
                f"lora.target_modules {missing} are not linear modules of {prefix} in "
                f"this {family.name} model; its linear modules: {sorted(linear)}",
            )


def check_adapter(model, targets: list[str]) -> int:
    """After get_peft_model: each target of each decoder layer carries LoRA weights (else `bad_model`).
    Returns the number of adapted modules."""
    layers = decoder_layers(model)
    missing = []
    for prefix, layer in layers:
        adapted = [n for n, m in layer.named_modules() if hasattr(m, "lora_A") and len(m.lora_A)]
        missing += [f"{prefix}.{t}" for t in targets if not any(n == t or n.endswith("." + t) for n in adapted)]
    if missing or not layers:
        raise StageFailure(
            "bad_model",
            f"the LoRA adapter does not cover {missing[:8] or 'any layer'} "
            f"({len(missing)} of {len(layers) * len(targets)} target modules)",
        )
    return len(layers) * len(targets)
