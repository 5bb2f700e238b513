"""Logits on fixed probe inputs: a small summary of what a model computes.

Every stage that produces a model records `probe_summary` of its output in
status.json (`output.probe`); a stage that starts from that model compares
its own step-0 logits to the recorded ones (`compare_probes`). A matching
weights fingerprint proves the files are the right ones; a matching probe
proves the model in memory is what those files hold (not a fresh init, not
a model with its adapter silently dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .contract import Probe

PROBES = [
    [{"role": "user", "content": "What is the weather in Paris?"}],
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Convert 10 dollars to EUR."}],
]
TOP_K = 5


def probe_logits(model, tokenizer) -> list[torch.Tensor]:
    """Full logits of each probe prompt (batch of one, no padding), float32 on CPU."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        with torch.no_grad():
            for msgs in PROBES:
                ids = tokenizer.apply_chat_template(
                    msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )["input_ids"].to(model.device)
                outs.append(model(input_ids=ids).logits.float().cpu())
    finally:
        model.train(was_training)
    return outs


def probe_summary(logits: list[torch.Tensor]) -> Probe:
    """Last-token logits of each probe: argmax, mean, std and the top-k (token id, value)."""
    last = [t[0, -1] for t in logits]
    tops = [torch.topk(t, min(TOP_K, t.numel())) for t in last]
    return {
        "argmax": [int(t.argmax()) for t in last],
        "mean": [round(float(t.mean()), 6) for t in last],
        "std": [round(float(t.std()), 6) for t in last],
        "top": [[[int(i), round(float(v), 6)] for v, i in zip(top.values, top.indices)] for top in tops],
    }


def model_probe(model, tokenizer) -> Probe:
    return probe_summary(probe_logits(model, tokenizer))


def compare_probes(actual: Mapping[str, Any], expected: Mapping[str, Any], tolerance: float) -> str | None:
    """Why `actual` is not the model that `expected` was recorded from (None when it is).

    Compares the recorded statistics and the expected top-k logits, reading the
    same token ids in `actual` (its own top-k may order near-ties differently).
    """
    if len(actual.get("mean", [])) != len(expected.get("mean", [])):
        return f"probe count differs: {len(actual.get('mean', []))} vs {len(expected.get('mean', []))}"
    worst = 0.0
    for i, (am, em, asd, esd) in enumerate(zip(actual["mean"], expected["mean"], actual["std"], expected["std"])):
        worst = max(worst, abs(am - em), abs(asd - esd))
        a_top = dict((tok, v) for tok, v in actual.get("top", [[]] * (i + 1))[i])
        for tok, v in expected.get("top", [[]] * (i + 1))[i]:
            if tok in a_top:
                worst = max(worst, abs(a_top[tok] - v))
            elif abs(v - expected["top"][i][-1][1]) > tolerance:
                return f"probe {i}: expected top token {tok} (logit {v:.4f}) is not among the model's top {TOP_K}"
    if worst > tolerance:
        return f"probe logits differ by {worst:.4g} > tolerance {tolerance}"
    return None


def continuity_tolerance(value: float | str, dtype: torch.dtype) -> float:
    """params.continuity_tolerance for a stage computing in `dtype`: 'auto' is 1e-3 in float32 and
    0.25 in bfloat16 (its coarser rounding); the host resolves it, as only it knows the dtype it computes in."""
    if value != "auto":
        return float(value)
    return 1e-3 if dtype == torch.float32 else 0.25
