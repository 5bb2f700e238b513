"""Merge stage: fold the SFT LoRA into the base weights (fp32 or bf16, never 4-bit).

Checks that make a silent mistake loud:
- the adapter's fingerprint equals inputs.adapter_fingerprint (else `continuity`);
- base + adapter computes the probe logits the SFT stage recorded for it
  (else `continuity`: the wrong base, or an adapter that did not load);
- logits on fixed probe inputs match before and after merge_and_unload within
  params.tolerance;
- no `lora_` keys remain in the merged state dict.
"""
from __future__ import annotations

import torch

from ..fingerprint import fingerprint_dir
from ..probe import compare_probes, default_tolerance, probe_logits, probe_summary
from .common import StageContext, StageFailure, device_and_dtype, recorded_probe, run_stage, set_seed

def main(ctx: StageContext) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = ctx.params
    set_seed(0)
    base = ctx.input_path("base_model")
    adapter = ctx.input_path("adapter")
    expected = ctx.inputs.get("adapter_fingerprint")
    actual = fingerprint_dir(adapter)
    if not expected or actual != expected:
        raise StageFailure("continuity", f"adapter fingerprint {actual} != expected {expected}")

    device, dtype = device_and_dtype(p)
    tolerance = float(p.get("tolerance", 1e-3 if dtype == torch.float32 else 5e-2))
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to(device)
    peft_model = PeftModel.from_pretrained(model, adapter).eval()
    before = probe_logits(peft_model, tokenizer)
    expected_probe = recorded_probe(ctx, "adapter", expected)
    if expected_probe is not None:
        why = compare_probes(probe_summary(before), expected_probe,
                             float(p.get("continuity_tolerance", default_tolerance(dtype))))
        if why:
            raise StageFailure("continuity", f"base + adapter {actual} is not the model SFT trained: {why}")
    merged = peft_model.merge_and_unload().eval()  # returns the merged model; not in place
    after = probe_logits(merged, tokenizer)
    diff = max(float((a - b).abs().max()) for a, b in zip(before, after))
    if diff > tolerance:
        raise StageFailure("error", f"merged logits differ by {diff:.3g} > tolerance {tolerance}")
    lora_keys = [k for k in merged.state_dict() if "lora_" in k]
    if lora_keys:
        raise StageFailure("error", f"merged model still has LoRA keys: {lora_keys[:5]}")

    out = ctx.local_dir / "model"
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    fp = fingerprint_dir(out)
    key = ctx.key("output/model")
    ctx.store.delete_prefix(key + "/")
    ctx.store.upload_dir(out, key)
    last = [a[0, -1] for a in after]
    ctx.write_status("succeeded", output={"key": key, "fingerprint": fp, "probe": probe_summary(after)}, metrics={
        "probe_max_abs_diff": diff, "tolerance": tolerance, "adapter_fingerprint": actual,
        "probe_argmax": [int(t.argmax()) for t in last],
        "probe_logit_mean": [round(float(t.mean()), 6) for t in last],
        "probe_logit_std": [round(float(t.std()), 6) for t in last],
    })


if __name__ == "__main__":
    run_stage(main)
