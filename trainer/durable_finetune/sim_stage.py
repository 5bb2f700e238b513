"""A simulated stage: every stage's side of the store contract at accelerated speed, without torch.

Test and bench only. With FINETUNE_TEST_SIMULATED_STAGES=1 in a host's environment the real agent
(agent.py: the job mailbox, heartbeats, start records, dedupe, SIGTERM and outcome handling) runs
this module instead of `durable_finetune.stages.<stage>`, so many runs can share one small machine
(`npm run bench:scale`, test/workflow/two-workers.test.ts) while the control plane under test
is the real one. FINETUNE_TEST_SIM_STEP_S (default 0.05) is the seconds one training step takes.

What it keeps of each stage: progress.json at every step (throttled as the real one), checkpoints
every save_steps and on SIGTERM committed with COMMITTED.json last, resume from the newest valid
one, status.json with the outputs and fingerprints the next stage's inputs name, and
generations.jsonl lines for every eval item and model. What it drops: the model (its weights
are a few bytes named like the real files) and its quality (every generation is empty).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from .checkpoint import commit_checkpoint, newest_valid_checkpoint
from .contract import StageOutput
from .fingerprint import fingerprint_dir
from .params import GenerateParams, MergeParams, PreflightParams, TrainingParams
from .progress import Progress
from .runtime import StageContext, read_jsonl
from .stage_main import run_stage

_stop = {"requested": False}


def _on_sigterm(signum, frame):  # noqa: ARG001
    _stop["requested"] = True


def _weights(folder: Path, name: str, seed: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(seed.encode())
    (folder / "config.json").write_text(json.dumps({"simulated": True}))
    return folder


def _ship(ctx: StageContext, local: Path, rel: str) -> StageOutput:
    key = ctx.key(rel)
    ctx.store.delete_prefix(key + "/")
    ctx.store.upload_dir(local, key)
    return {"key": key, "fingerprint": fingerprint_dir(local)}


def train(ctx: StageContext, p: TrainingParams) -> None:
    total, save = p.max_steps, p.save_steps
    step_s = float(os.environ.get("FINETUNE_TEST_SIM_STEP_S") or 0.05)
    prefix = ctx.key("checkpoints")
    found = newest_valid_checkpoint(ctx.store, prefix) if ctx.resume else None
    start = found[0] if found else 0
    progress = Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, total)
    progress.update(resumed_from_step=start, step=start)

    def commit(step: int) -> None:
        local = _weights(ctx.local_dir / f"checkpoint-{step}", "adapter_model.safetensors", f"{ctx.job_id}:{step}")
        commit_checkpoint(ctx.store, local, prefix, step, ctx.job_id)
        progress.update(last_checkpoint_step=step, step=step)

    step = start
    while step < total:
        time.sleep(step_s)
        step += 1
        progress.log(step, 1.0 / step, {"learning_rate": 1e-4})
        if _stop["requested"]:
            commit(step)
            ctx.write_status(
                "interrupted",
                message=f"stopped by SIGTERM at step {step}; checkpoint committed",
                steps_done=step,
                resumed_from_step=start,
            )
            return
        if step % save == 0 and step < total:
            commit(step)
    rel = "output/model" if ctx.stage == "dpo" else "output/adapter"
    output = _ship(ctx, _weights(ctx.local_dir / "out", "adapter_model.safetensors", f"{ctx.job_id}:final"), rel)
    progress.update(step=total)
    ctx.write_status(
        "succeeded",
        output=output,
        metrics={"train_loss": 1.0 / total, "ranks": 1},
        steps_done=total,
        resumed_from_step=start,
    )


def merge(ctx: StageContext, p: MergeParams) -> None:  # noqa: ARG001 - every stage body takes its params
    output = _ship(ctx, _weights(ctx.local_dir / "model", "model.safetensors", ctx.job_id), "output/model")
    ctx.write_status("succeeded", output=output, metrics={})


def preflight(ctx: StageContext, p: PreflightParams) -> None:
    key = ctx.key("output/report.json")
    ctx.store.put_json(key, {"simulated": True, "gpus": {"asked": p.gpus, "expected": p.expected_gpus}})
    ctx.write_status("succeeded", output={"key": key, "fingerprint": None}, metrics={"ranks": 1})


def generate(ctx: StageContext, p: GenerateParams) -> None:
    items = read_jsonl(ctx.input_path("eval_data"))
    models = list(p.models)
    lines = [json.dumps({"model": m, "item_id": item["id"], "output": ""}) for m in models for item in items]
    key = ctx.key("output/generations.jsonl")
    ctx.store.put_bytes(key, ("\n".join(lines) + "\n").encode())
    Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, len(lines)).update(step=len(lines))
    ctx.write_status("succeeded", output={"key": key, "fingerprint": None}, metrics={"items": len(items)})


_BODIES: dict[str, Callable[..., None]] = {
    "preflight": preflight,
    "sft": train,
    "merge": merge,
    "dpo": train,
    "generate": generate,
}


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    run_stage(lambda ctx, params: _BODIES[ctx.stage](ctx, params))


if __name__ == "__main__":
    main()
