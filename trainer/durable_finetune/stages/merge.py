"""Merge stage: fold the SFT LoRA into the base weights (fp32 or bf16, never 4-bit).

Checks that make a silent mistake loud:
- the adapter's fingerprint equals inputs.adapter_fingerprint (else `continuity`);
- base + adapter computes the probe logits the SFT stage recorded for it
  (else `continuity`: the wrong base, or an adapter that did not load);
- logits on fixed probe inputs match before and after merge_and_unload within
  params.tolerance;
- no `lora_` keys remain in the merged state dict.

progress.json counts the work done, so a long merge (a big model on a slow
disk or CPU) is never called hung: step 1 when base and adapter are loaded,
one step per LoRA module merged, then checks, save and upload
(total_steps = modules + 5).
"""

from __future__ import annotations

import warnings

from ..fingerprint import fingerprint_dir
from ..params import MergeParams
from ..probe import compare_probes, continuity_tolerance, probe_logits, probe_summary
from ..progress import Progress
from ..runtime import StageContext, StageFailure, device_and_dtype, recorded_probe, set_seed
from ..stage_main import run_stage

# Steps of progress.json besides one per LoRA module: loaded, probe checked, merged model checked, saved, uploaded.
PHASES = 5


def lora_layers(peft_model) -> list:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in peft_model.modules() if isinstance(m, BaseTunerLayer)]


def merge_modules(peft_model, progress: Progress):
    """Merge the adapter module by module (a step each), then unload the LoRA wrappers:
    merge_and_unload finds every module merged already and only unwraps them."""
    for layer in lora_layers(peft_model):
        layer.merge()
        progress.update(force=False, step=progress.state["step"] + 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All adapters are already merged")
        return peft_model.merge_and_unload()  # returns the merged model; not in place


def main(ctx: StageContext, p: MergeParams) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_seed(0)
    base = ctx.input_path("base_model")
    adapter = ctx.input_path("adapter")
    expected = ctx.inputs.get("adapter_fingerprint")
    actual = fingerprint_dir(adapter)
    if not expected or actual != expected:
        raise StageFailure("continuity", f"adapter fingerprint {actual} != expected {expected}")

    device, dtype = device_and_dtype(p.dtype)
    tolerance = p.tolerance
    progress = Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, 0)
    progress.write(force=True)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to(device)
    peft_model = PeftModel.from_pretrained(model, adapter).eval()
    progress.update(step=1, total_steps=len(lora_layers(peft_model)) + PHASES)
    before = probe_logits(peft_model, tokenizer)
    expected_probe = recorded_probe(ctx, "adapter", expected)
    if expected_probe is not None:
        why = compare_probes(probe_summary(before), expected_probe, continuity_tolerance(p.continuity_tolerance, dtype))
        if why:
            raise StageFailure("continuity", f"base + adapter {actual} is not the model SFT trained: {why}")
    progress.update(step=2)
    merged = merge_modules(peft_model, progress).eval()
    after = probe_logits(merged, tokenizer)
    diff = max(float((a - b).abs().max()) for a, b in zip(before, after))
    if diff > tolerance:
        raise StageFailure("error", f"merged logits differ by {diff:.3g} > tolerance {tolerance}")
    lora_keys = [k for k in merged.state_dict() if "lora_" in k]
    if lora_keys:
        raise StageFailure("error", f"merged model still has LoRA keys: {lora_keys[:5]}")
    progress.update(step=progress.state["step"] + 1)

    out = ctx.local_dir / "model"
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    fp = fingerprint_dir(out)
    progress.update(step=progress.state["step"] + 1)
    key = ctx.key("output/model")
    ctx.store.delete_prefix(key + "/")
    ctx.store.upload_dir(out, key)
    progress.update(step=progress.state["total_steps"])
    last = [a[0, -1] for a in after]
    ctx.write_status(
        "succeeded",
        output={"key": key, "fingerprint": fp, "probe": probe_summary(after)},
        metrics={
            "probe_max_abs_diff": diff,
            "tolerance": tolerance,
            "adapter_fingerprint": actual,
            "probe_argmax": [int(t.argmax()) for t in last],
            "probe_logit_mean": [round(float(t.mean()), 6) for t in last],
            "probe_logit_std": [round(float(t.std()), 6) for t in last],
        },
    )


if __name__ == "__main__":
    run_stage(main)
