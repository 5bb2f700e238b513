"""DPO stage: a fresh LoRA on the SFT-merged model, reference = that model with adapters off.

- inputs.model's fingerprint must equal inputs.model_fingerprint (else
  `continuity`): DPO must start from the weights the merge stage produced;
- the model is a plain model plus a new peft_config, so ref_model=None means
  "the same weights with the adapter disabled" (no second copy in memory);
- optional NLL anchor on the chosen answers: sft_loss_weight > 0 ->
  loss_type ["sigmoid", "sft"] with loss_weights [1, w];
- collapse guard: logps/chosen falling more than params.collapse_logps_drop
  (default 50 nats) below its first logged value fails with `dpo_collapsed`.
Outputs: output/adapter/ and output/model/ (adapter merged into the model).
"""
from __future__ import annotations

from transformers import TrainerCallback

from ..fingerprint import fingerprint_dir
from ..progress import Progress
from ..training import StopFlag, lora_config, prepare_resume, run_training, training_args
from .common import StageContext, StageFailure, device_and_dtype, read_jsonl, run_stage, set_seed


class CollapseGuard(TrainerCallback):
    def __init__(self, max_drop: float):
        self.max_drop = max_drop
        self.first: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        v = (logs or {}).get("logps/chosen")
        if v is None:
            return
        if self.first is None:
            self.first = float(v)
        elif float(v) < self.first - self.max_drop:
            raise StageFailure("dpo_collapsed", f"logps/chosen fell from {self.first:.2f} to {float(v):.2f} "
                                                f"at step {state.global_step}")


def check_rows(rows: list[dict]) -> list[dict]:
    for n, r in enumerate(rows, 1):
        if not all(isinstance(r.get(k), list) and r[k] for k in ("prompt", "chosen", "rejected")):
            raise StageFailure("bad_data", f"preference row {n}: needs prompt, chosen, rejected message lists")
    return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]


def main(ctx: StageContext) -> None:
    stop = StopFlag()
    stop.install()
    p = ctx.params
    set_seed(int(p.get("seed", 0)))

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model_dir = ctx.input_path("model")
    expected = ctx.inputs.get("model_fingerprint")
    actual = fingerprint_dir(model_dir)
    if not expected or actual != expected:
        raise StageFailure("continuity", f"model fingerprint {actual} != expected {expected}")
    dataset = Dataset.from_list(check_rows(read_jsonl(ctx.input_path("preference_data"))))
    device, dtype = device_and_dtype(p)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)

    resume_path, start_step = prepare_resume(ctx)
    progress = Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, int(p["max_steps"]))
    progress.update(resumed_from_step=start_step, step=start_step)

    w = float(p.get("sft_loss_weight", 0.0))
    loss = dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, w]) if w > 0 else dict(loss_type=["sigmoid"])
    args = DPOConfig(**training_args(p, ctx.local_dir / "trainer", use_bf16=str(dtype) == "torch.bfloat16"),
                     beta=float(p["beta"]), **loss)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                         processing_class=tokenizer, peft_config=lora_config(p))
    trainer.add_callback(CollapseGuard(float(p.get("collapse_logps_drop", 50.0))))
    interrupted, out = run_training(ctx, trainer, progress, stop, resume_path, start_step)
    step = trainer.state.global_step
    if interrupted:
        ctx.write_status("interrupted", message=f"stopped by SIGTERM at step {step}; checkpoint committed",
                         steps_done=step, resumed_from_step=start_step)
        return

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
    metrics = {"train_loss": out.training_loss, "adapter_fingerprint": fingerprint_dir(adapter_dir),
               **{k: v for k, v in last.items() if k.startswith(("rewards/", "logps/"))}}
    progress.update(step=step)
    ctx.write_status("succeeded", output={"key": ctx.key("output/model"), "fingerprint": fingerprint_dir(merged_dir),
                                          "adapter_key": ctx.key("output/adapter")},
                     metrics=metrics, steps_done=step, resumed_from_step=start_step)


if __name__ == "__main__":
    run_stage(main)
