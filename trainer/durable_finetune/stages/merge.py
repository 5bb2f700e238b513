"""Merge stage: fold the SFT LoRA into the base weights (fp32 or bf16, never 4-bit).

Checks that make a silent mistake loud:
- the adapter's fingerprint equals inputs.adapter_fingerprint (else `continuity`);
- logits on fixed probe inputs match before and after merge_and_unload within
  params.tolerance;
- no `lora_` keys remain in the merged state dict.
"""
from __future__ import annotations

import torch

from ..fingerprint import fingerprint_dir
from .common import StageContext, StageFailure, device_and_dtype, run_stage, set_seed

PROBES = [
    [{"role": "user", "content": "What is the weather in Paris?"}],
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Convert 10 dollars to EUR."}],
]


def probe_logits(model, tokenizer) -> list[torch.Tensor]:
    outs = []
    with torch.no_grad():
        for msgs in PROBES:
            ids = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)["input_ids"].to(model.device)
            outs.append(model(input_ids=ids).logits.float().cpu())
    return outs


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
    ctx.write_status("succeeded", output={"key": key, "fingerprint": fp}, metrics={
        "probe_max_abs_diff": diff, "tolerance": tolerance, "adapter_fingerprint": actual,
        "probe_argmax": [int(t.argmax()) for t in last],
        "probe_logit_mean": [round(float(t.mean()), 6) for t in last],
        "probe_logit_std": [round(float(t.std()), 6) for t in last],
    })


if __name__ == "__main__":
    run_stage(main)
