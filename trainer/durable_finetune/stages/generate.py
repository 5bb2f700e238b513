"""Generate stage: the same eval prompts, the same greedy decoding, for every model.

params.models maps a name (base, sft, dpo) to a model input. Each model is a
full model folder (or `hf:` id) of a supported family (families.py). Each
eval item is rendered by its model's chat template with the item's own
`tools` (prompts.py; generation.py decodes, as the DPO guard's probe does),
in batches of params.batch_size, in the model's dtype
(params.dtype: bf16 on a GPU that has it). progress.json counts items done of
items x models, so a long generate is never taken for a hung one; status
metrics carry each model's new tokens per second.
Output: output/generations.jsonl, one line per model and eval item:
{"model", "item_id", "output"}.
"""

from __future__ import annotations

import json
import sys
import time

from ..families import model_family
from ..generation import generate_all
from ..params import GenerateParams
from ..progress import Progress
from ..runtime import StageContext, StageFailure, device_and_dtype, read_jsonl, resolve_input, set_seed
from ..stage_main import run_stage


def generation_line(model: str, item_id: str, output: str) -> dict:
    return {"model": model, "item_id": item_id, "output": output}


def main(ctx: StageContext, p: GenerateParams) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_seed(p.seed)
    items = read_jsonl(ctx.input_path("eval_data"))
    for n, it in enumerate(items, 1):
        if "id" not in it or not it.get("messages"):
            raise StageFailure("bad_data", f"eval row {n}: needs id and messages")
    models = p.models
    if not models:
        raise StageFailure("bad_data", "params.models is empty")
    paths = {name: resolve_input(ref, ctx.store, ctx.workdir / "cache") for name, ref in models.items()}
    families = {name: model_family(path).name for name, path in paths.items()}  # every model, before any loads
    device, dtype = device_and_dtype(p.dtype)
    max_new, batch_size = p.max_new_tokens, p.batch_size
    progress = Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, len(items) * len(models))
    progress.update(step=0)
    lines, rates = [], {}
    for name, path in paths.items():
        print(
            f"generating with {name} ({models[name]}, {families[name]}, {dtype}, batch {batch_size})",
            file=sys.stderr,
            flush=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        done = {"items": 0, "tokens": 0}
        t0 = time.monotonic()

        # Called only within this iteration (generate_all below), so it sees this model's done and t0.
        def on_batch(n_items: int, n_tokens: int) -> None:
            done["items"] += n_items  # noqa: B023
            done["tokens"] += n_tokens  # noqa: B023
            rate = done["tokens"] / max(time.monotonic() - t0, 1e-9)  # noqa: B023
            progress.log(progress.state["step"] + n_items, None, {"tokens_per_s": round(rate, 2)})

        outputs = generate_all(model, tokenizer, items, max_new, batch_size, on_batch)
        seconds = time.monotonic() - t0
        rates[name] = {
            "new_tokens": done["tokens"],
            "seconds": round(seconds, 3),
            "tokens_per_s": round(done["tokens"] / max(seconds, 1e-9), 2),
        }
        print(
            f"{name}: {done['tokens']} new tokens in {seconds:.1f} s ({rates[name]['tokens_per_s']} tokens/s)",
            file=sys.stderr,
            flush=True,
        )
        lines += [generation_line(name, it["id"], out) for it, out in zip(items, outputs)]
        del model
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    key = ctx.key("output/generations.jsonl")
    ctx.store.put_bytes(key, body)
    progress.update(step=len(items) * len(models))
    ctx.write_status(
        "succeeded",
        output={"key": key, "fingerprint": None},
        metrics={
            "models": list(models),
            "items": len(items),
            "max_new_tokens": max_new,
            "batch_size": batch_size,
            "dtype": str(dtype).removeprefix("torch."),
            "device": device,
            "families": families,
            "tokens_per_s": {name: r["tokens_per_s"] for name, r in rates.items()},
            "new_tokens": {name: r["new_tokens"] for name, r in rates.items()},
            "seconds": {name: r["seconds"] for name, r in rates.items()},
        },
    )


if __name__ == "__main__":
    run_stage(main)
