"""DPO stage: a fresh LoRA on the SFT-merged model, reference = that model with adapters off.

- inputs.model's fingerprint must equal inputs.model_fingerprint (else
  `continuity`): DPO must start from the weights the merge stage produced;
- before the first step, the policy (fresh LoRA) and the reference (adapter
  off) must both compute the probe logits that the producing stage recorded
  in its status.json (else `continuity`): the model in memory is the merged
  SFT model, not a fresh init or another model;
- the model is a plain model plus a new peft_config, so ref_model=None means
  "the same weights with the adapter disabled" (no second copy in memory);
- optional NLL anchor on the chosen answers: sft_loss_weight > 0 ->
  loss_type ["sigmoid", "sft"] with loss_weights [1, w];
- collapse guard (dpo_guard.py): falling logps/chosen, early saturation, or
  the task probe (inputs.eval_data, when given) falling below the SFT
  model's fails with `dpo_collapsed` and the metric history. No probe at all
  (not even at step 0) with probe_every 0, without eval_data, or when no eval
  item expects a tool call: metrics.probe_skipped says which.
Outputs: output/adapter/ and output/model/ (adapter merged into the model).
params.ranks > 1: DDP across that many ranks under torchrun (launcher.py).
Every rank checks the fingerprint and the step-0 probe of the model it
loaded; the task probe runs on rank 0 and its value is shared, so the guard
decides the same on every rank; rank 0 merges, uploads and writes the status.
"""

from __future__ import annotations

import sys

from ..dpo_guard import CollapseGuard, GuardConfig, TaskProbe
from ..families import Family, check_adapter, check_targets, lora_targets, model_family
from ..faults import debug_param
from ..fingerprint import fingerprint_dir
from ..params import DpoParams
from ..probe import compare_probes, continuity_tolerance, model_probe
from ..prompts import training_row
from ..ranks import decided_by_rank_zero
from ..resume import resume_point
from ..runtime import StageContext, StageFailure, device_and_dtype, read_jsonl, recorded_probe, set_seed
from ..stage_main import run_stage
from ..training import StopFlag, lora_config, run_training, stage_progress, training_args


def check_rows(rows: list[dict], family: Family) -> list[dict]:
    """Rows as trl preference rows, the prompt as the family renders it (prompts.py)."""
    for n, r in enumerate(rows, 1):
        if not all(isinstance(r.get(k), list) and r[k] for k in ("prompt", "chosen", "rejected")):
            raise StageFailure("bad_data", f"preference row {n}: needs prompt, chosen, rejected message lists")
    return [training_row(family, r["prompt"], r.get("tools"), chosen=r["chosen"], rejected=r["rejected"]) for r in rows]


def check_start(trainer, tokenizer, expected_probe: dict | None, tolerance: float, fingerprint: str) -> dict:
    """Policy and reference, before any step, must be the model whose probe the merge recorded."""
    if expected_probe is None:
        print("no recorded probe for inputs.model: step-0 logits not checked", file=sys.stderr, flush=True)
        return {"probe_checked": False}
    policy = model_probe(trainer.model, tokenizer)
    if trainer.ref_model is not None:
        reference = model_probe(trainer.ref_model, tokenizer)
    else:
        with trainer.model.disable_adapter():  # the reference is the same weights with the adapter off
            reference = model_probe(trainer.model, tokenizer)
    for name, actual in (("policy", policy), ("reference", reference)):
        why = compare_probes(actual, expected_probe, tolerance)
        if why:
            raise StageFailure(
                "continuity",
                f"DPO {name} at step 0 is not the model {fingerprint} it was given: "
                f"{why} (expected argmax {expected_probe['argmax']}, "
                f"got {actual['argmax']})",
            )
    print(
        f"step-0 probe logits of policy and reference match the recorded probe of {fingerprint}",
        file=sys.stderr,
        flush=True,
    )
    return {"probe_checked": True, "tolerance": tolerance}


def task_probe(ctx: StageContext, p: DpoParams, model_dir: str) -> tuple[TaskProbe | None, str | None]:
    """The guard's task probe on the first params.probe_items eval prompts that expect a tool call,
    or (None, why it is skipped): probe_every 0 turns it off, and without eval_data or tool-call
    items there is nothing to score. A skipped probe is logged and recorded in the status."""
    from transformers import AutoTokenizer

    n = p.probe_items
    why = None
    if p.probe_every <= 0:
        why = "probe_every is 0"
    elif n <= 0:
        why = "probe_items is 0"
    elif not ctx.inputs.get("eval_data"):
        why = "no eval_data input"
    else:
        items = [it for it in read_jsonl(ctx.input_path("eval_data")) if TaskProbe.scorable(it)][:n]
        if not items:
            why = "the eval set has no items with an expected_call (tool-call items) to score"
    if why:
        print(f"task probe skipped: {why}", file=sys.stderr, flush=True)
        return None, why
    # Its own tokenizer: generation pads on the left, the trainer's collator must not see that.
    return TaskProbe(items, AutoTokenizer.from_pretrained(model_dir), p.probe_max_new_tokens), None


def main(ctx: StageContext, p: DpoParams) -> None:
    stop = StopFlag()
    stop.install()
    set_seed(p.seed)

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model_dir = ctx.input_path("model")
    expected = ctx.inputs.get("model_fingerprint")
    actual = fingerprint_dir(model_dir)
    if not expected or actual != expected:
        raise StageFailure("continuity", f"model fingerprint {actual} != expected {expected}")
    family = model_family(model_dir)
    dataset = Dataset.from_list(check_rows(read_jsonl(ctx.input_path("preference_data")), family))
    expected_probe = recorded_probe(ctx, "model", expected)
    device, dtype = device_and_dtype(p.dtype)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    if debug_param(ctx.params, "debug_reinit_policy"):
        # The failure this guards against: "continue from SFT" that trains a fresh model underneath.
        model = AutoModelForCausalLM.from_config(model.config, dtype=dtype)
    targets = lora_targets(p.lora.target_modules, family)
    check_targets(model, targets, family)

    resume_path, start_step = resume_point(ctx)
    progress = stage_progress(ctx, p)
    progress.update(resumed_from_step=start_step, step=start_step)

    w = p.sft_loss_weight
    loss = dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, w]) if w > 0 else dict(loss_type=["sigmoid"])
    args = DPOConfig(
        **training_args(p, ctx.local_dir / "trainer", use_bf16=str(dtype) == "torch.bfloat16"), beta=p.beta, **loss
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(p.lora, targets),
    )
    check_adapter(trainer.model, targets)
    continuity = check_start(
        trainer, tokenizer, expected_probe, continuity_tolerance(p.continuity_tolerance, dtype), expected
    )
    probe, probe_skipped = task_probe(ctx, p, model_dir)
    baseline = decided_by_rank_zero(lambda: probe(trainer.model)) if probe else None
    guard = CollapseGuard(GuardConfig.of(p), probe, baseline)
    trainer.add_callback(guard)
    interrupted, out = run_training(ctx, p, trainer, progress, stop, resume_path, start_step)
    step = trainer.state.global_step
    if interrupted:
        ctx.write_status(
            "interrupted",
            message=f"stopped by SIGTERM at step {step}; checkpoint committed",
            steps_done=step,
            resumed_from_step=start_step,
        )
        return

    final_probe = None
    if probe:  # the model as it ships; the last step's probe if that was probed already (every rank: it is shared)
        done = guard.probes[-1] if guard.probes and guard.probes[-1]["step"] == step else None
        final_probe = done["metric"] if done else guard.check_probe(trainer.model, step)
    if not ctx.rank.is_zero:
        return  # the weights are the same on every rank: rank 0 ships them
    adapter_dir, merged_dir = ctx.local_dir / "adapter", ctx.local_dir / "model"
    trainer.model.save_pretrained(adapter_dir)
    merged = trainer.model.merge_and_unload()
    merged.save_pretrained(merged_dir, safe_serialization=True)
    tokenizer.save_pretrained(merged_dir)
    for name, local in (("adapter", adapter_dir), ("model", merged_dir)):
        key = ctx.key(f"output/{name}")
        ctx.store.delete_prefix(key + "/")
        ctx.store.upload_dir(local, key)
    last = progress.state["history"][-1] if progress.state["history"] else {}
    metrics = {
        "train_loss": out.training_loss,
        "ranks": ctx.rank.world_size,
        "adapter_fingerprint": fingerprint_dir(adapter_dir),
        **{k: v for k, v in last.items() if k.startswith(("rewards/", "logps/"))},
        "beta": p.beta,
        "learning_rate": p.learning_rate,
        "continuity": continuity,
        "probe_final": final_probe,
        "probe_skipped": probe_skipped,
        **guard.evidence(),
    }
    metrics.pop("collapse_reason")
    progress.update(step=step)
    ctx.write_status(
        "succeeded",
        output={
            "key": ctx.key("output/model"),
            "fingerprint": fingerprint_dir(merged_dir),
            "adapter_key": ctx.key("output/adapter"),
            "probe": model_probe(merged, tokenizer),
        },
        metrics=metrics,
        steps_done=step,
        resumed_from_step=start_step,
    )


if __name__ == "__main__":
    run_stage(main, torchrun_module=__spec__.name)
