"""SFT stage: LoRA supervised fine-tuning with trl's SFTTrainer.

Rows `{"messages": [..., {"role": "assistant", ...}]}` become conversational
prompt/completion pairs, so the loss is on the assistant answer only.
Output: stages/sft/output/adapter/ (peft adapter) and its fingerprint.
params.ranks > 1: DDP across that many ranks under torchrun (launcher.py);
rank 0 saves and uploads the adapter and writes the status.
"""

from __future__ import annotations

from ..families import Family, check_adapter, check_targets, embeddings_tied, lora_targets, model_family
from ..fingerprint import fingerprint_dir
from ..params import SftParams
from ..probe import model_probe
from ..prompts import training_row
from ..resume import resume_point
from ..runtime import StageContext, StageFailure, device_and_dtype, read_jsonl, set_seed
from ..stage_main import run_stage
from ..training import StopFlag, lora_config, run_training, stage_progress, training_args


def to_prompt_completion(rows: list[dict], family: Family) -> list[dict]:
    """Rows as trl prompt/completion pairs, the prompt as the family renders it (prompts.py)."""
    out = []
    for n, row in enumerate(rows, 1):
        msgs = row.get("messages")
        if not msgs or msgs[-1].get("role") != "assistant":
            raise StageFailure("bad_data", f"sft row {n}: needs messages ending with an assistant turn")
        out.append(training_row(family, msgs[:-1], row.get("tools"), completion=msgs[-1:]))
    return out


def main(ctx: StageContext, p: SftParams) -> None:
    stop = StopFlag()
    stop.install()  # first: a SIGTERM during model loading must not kill us without a status
    set_seed(p.seed)

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    base = ctx.input_path("base_model")
    data = ctx.input_path("sft_data")
    family = model_family(base)  # an unknown architecture fails here, before any weights load
    dataset = Dataset.from_list(to_prompt_completion(read_jsonl(data), family))
    device, dtype = device_and_dtype(p.dtype)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    targets = lora_targets(p.lora.target_modules, family)
    check_targets(model, targets, family)

    resume_path, start_step = resume_point(ctx)
    progress = stage_progress(ctx, p)
    progress.update(resumed_from_step=start_step, step=start_step)

    out_dir = ctx.local_dir / "trainer"
    args = SFTConfig(**training_args(p, out_dir, use_bf16=str(dtype) == "torch.bfloat16"), completion_only_loss=True)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(p.lora, targets),
    )
    lora_modules = check_adapter(trainer.model, targets)
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
    if not ctx.rank.is_zero:
        return  # the weights are the same on every rank: rank 0 ships them

    adapter_dir = ctx.local_dir / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    fp = fingerprint_dir(adapter_dir)
    key = ctx.key("output/adapter")
    ctx.store.delete_prefix(key + "/")
    ctx.store.upload_dir(adapter_dir, key)
    progress.update(step=step)
    ctx.write_status(
        "succeeded",
        output={"key": key, "fingerprint": fp, "probe": model_probe(trainer.model, tokenizer)},
        metrics={
            "train_loss": out.training_loss,
            "ranks": ctx.rank.world_size,
            "family": family.name,
            "lora_targets": targets,
            "lora_modules": lora_modules,
            "tied_embeddings": embeddings_tied(model.config),
            **{k: v for k, v in out.metrics.items() if isinstance(v, (int, float))},
        },
        steps_done=step,
        resumed_from_step=start_step,
    )


if __name__ == "__main__":
    run_stage(main, torchrun_module=__spec__.name)
