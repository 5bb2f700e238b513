"""Generate stage: the same eval prompts, the same greedy decoding, for every model.

params.models maps a name (base, sft, dpo) to a model input. Each model is a
full model folder (or `hf:` id). Output: output/generations.jsonl, one line
per model and eval item: {"model", "item_id", "output"}.
"""
from __future__ import annotations

import json
import sys

import torch

from .common import StageContext, StageFailure, device_and_dtype, read_jsonl, resolve_input, run_stage, set_seed


def generate_all(model, tokenizer, items: list[dict], max_new_tokens: int, batch_size: int) -> list[str]:
    tokenizer.padding_side = "left"  # decoder-only: pad on the left so new tokens follow the prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    outs: list[str] = []
    for i in range(0, len(items), batch_size):
        batch = items[i:i + batch_size]
        enc = tokenizer.apply_chat_template([it["messages"] for it in batch], add_generation_prompt=True,
                                            return_tensors="pt", padding=True, return_dict=True).to(model.device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        new = gen[:, enc["input_ids"].shape[1]:]  # only the new tokens
        # A random model can emit a partial UTF-8 byte sequence; replace it so every reader can parse the line.
        outs.extend(t.encode("utf-8", "replace").decode("utf-8")
                    for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    return outs


def generation_line(model: str, item_id: str, output: str) -> dict:
    return {"model": model, "item_id": item_id, "output": output}


def main(ctx: StageContext) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = ctx.params
    set_seed(int(p.get("seed", 0)))
    items = read_jsonl(ctx.input_path("eval_data"))
    for n, it in enumerate(items, 1):
        if "id" not in it or not it.get("messages"):
            raise StageFailure("bad_data", f"eval row {n}: needs id and messages")
    models = p.get("models") or {}
    if not models:
        raise StageFailure("bad_data", "params.models is empty")
    device, dtype = device_and_dtype(p)
    max_new = int(p.get("max_new_tokens", 64))
    lines = []
    for name, ref in models.items():
        path = resolve_input(ref, ctx.store, ctx.workdir / "cache")
        print(f"generating with {name} ({ref})", file=sys.stderr, flush=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        outputs = generate_all(model, tokenizer, items, max_new, int(p.get("batch_size", 16)))
        lines += [generation_line(name, it["id"], out) for it, out in zip(items, outputs)]
        del model
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    key = ctx.key("output/generations.jsonl")
    ctx.store.put_bytes(key, body)
    ctx.write_status("succeeded", output={"key": key, "fingerprint": None},
                     metrics={"models": list(models), "items": len(items), "max_new_tokens": max_new})


if __name__ == "__main__":
    run_stage(main)
