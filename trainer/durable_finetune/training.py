"""Durable training shared by the sft and dpo stages.

- every save (each `save_steps`, and on SIGTERM) is committed to the store as
  stages/<stage>/checkpoints/checkpoint-<step>/ with COMMITTED.json last, in
  the background while training goes on (checkpoint.CheckpointUploads: one
  upload in flight; the stage waits for it before it reports an end);
- SIGTERM (spot preemption notice: about 30 s before the hard stop) only sets
  a flag; at the next step end the callback asks the Trainer to save and stop;
- `resume: true` downloads the newest valid committed checkpoint (resume.py)
  and passes it to `trainer.train(resume_from_checkpoint=...)` (the Trainer's
  own `True` would pick the highest local folder without checking it is whole);
- no trainable parameters before the first step, or trainable weights that
  have not moved after the first `noop_check_steps` optimizer steps, is a
  failure (`no_op_training`): a frozen adapter trains nothing, silently;
- progress.json on every logged step;
- each logged step's metrics tracked (tracking.py): TensorBoard files in the store,
  MLflow and W&B when params.tracking names them.

With several ranks (launcher.py) every rank runs this same code: rank 0 alone
writes progress and commits checkpoints, every rank resumes from the
launcher's plan, and each decision that ends training (stop flag, probe) is
agreed across ranks so that none waits in a collective the others left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .checkpoint import CheckpointUploads
from .faults import debug_param, fault_on_this_rank, inject_fault
from .params import Lora, TrainingParams
from .progress import Progress
from .ranks import barrier
from .resume import job_tag
from .runtime import StageContext, StageFailure
from .tracking import stage_tracker

# Metrics worth keeping in progress history (trl names); loss is kept separately.
# Elements of each trainable tensor compared before and after the first steps: enough
# to see any update (LoRA B moves everywhere at once) without copying a full model.
_SNAPSHOT_ELEMENTS = 4096

_KEEP = (
    "learning_rate",
    "grad_norm",
    "mean_token_accuracy",
    "entropy",
    "epoch",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
)


class StopFlag:
    """Set by the SIGTERM handler, read at step boundaries."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        def handler(signum, frame):  # noqa: ARG001
            print("SIGTERM received: will checkpoint and stop at the next step end", file=sys.stderr, flush=True)
            self.requested = True

        signal.signal(signal.SIGTERM, handler)

    def agreed(self) -> bool:
        """Whether any rank was asked to stop. With several ranks (torch.distributed initialised)
        the flag is all-reduced at each step end, so every rank saves and stops at the same step
        even when the notice reached only one of them."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return self.requested
        import torch

        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        flag = torch.tensor([1 if self.requested else 0], dtype=torch.int32, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.requested = bool(flag.item())
        return self.requested


class MovedCheck(TrainerCallback):
    """After the first optimizer steps, some trainable weight must differ from its value
    at the start; else the run trains nothing (`no_op_training`). The first step alone
    may not move anything (a warmup schedule starts at lr 0), so it allows `steps`."""

    def __init__(self, steps: int):
        self.steps = max(1, steps)
        self.before: dict[str, object] | None = None
        self.start_step = 0
        self.moved_at: int | None = None

    @staticmethod
    def snapshot(model) -> dict[str, object]:
        return {
            name: p.detach().flatten()[:_SNAPSHOT_ELEMENTS].float().cpu().clone()
            for name, p in model.named_parameters()
            if p.requires_grad
        }

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = self.snapshot(model)
        self.start_step = state.global_step
        if not self.before:
            raise StageFailure("no_op_training", "the model has no trainable parameters")

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.moved_at is not None or self.before is None:
            return
        after = self.snapshot(model)
        moved = [n for n, t in after.items() if n in self.before and not bool((t == self.before[n]).all())]
        if moved:
            self.moved_at = state.global_step
            self.before = None
            print(
                f"trainable weights moved by step {state.global_step} ({len(moved)}/{len(after)} tensors)",
                file=sys.stderr,
                flush=True,
            )
        elif state.global_step - self.start_step >= self.steps:
            n = sum(p.numel() for p in model.parameters() if p.requires_grad)
            raise StageFailure(
                "no_op_training",
                f"{len(after)} trainable tensors ({n} parameters) are unchanged "
                f"after {state.global_step - self.start_step} optimizer steps",
            )


class DurableCallback(TrainerCallback):
    def __init__(self, ctx: StageContext, progress: Progress, stop: StopFlag, start_step: int):
        self.ctx, self.progress, self.stop = ctx, progress, stop
        self.start_step = start_step
        self.last_saved: int | None = None
        self.stopped_by_signal = False
        self.uploads = CheckpointUploads(ctx.store, ctx.key("checkpoints"), ctx.job_id, self._committed)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.stop.agreed():
            self.stopped_by_signal = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs and not any(k in logs for k in _KEEP[5:]):
            return  # the end-of-train summary, not a step log
        metrics = {k: float(v) for k, v in logs.items() if k in _KEEP and isinstance(v, (int, float))}
        loss = logs.get("loss")
        self.progress.log(state.global_step, float(loss) if loss is not None else None, metrics)

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        self.last_saved = step
        # Every rank has written its part (rng_state_<rank>.pth) before rank 0 uploads the folder.
        barrier()
        if not state.is_world_process_zero:
            return  # one rank uploads and commits
        self.progress.update(step=step)
        self.uploads.submit(Path(args.output_dir) / f"checkpoint-{step}", step)

    def _committed(self, step: int) -> None:
        """In the upload thread, once COMMITTED.json is written: the control plane may resume from it."""
        self.progress.update(last_checkpoint_step=step)
        print(f"committed checkpoint-{step}", file=sys.stderr, flush=True)


class FaultAtStep(TrainerCallback):
    """Test only: params.debug_inject goes off at the end of step params.debug_inject_at_step
    (in params.debug_fault_rank only, when given): a rank that dies mid-training."""

    def __init__(self, fault: str, step: int):
        self.fault, self.step = fault, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            inject_fault(self.fault)


class HoldAtStep(TrainerCallback):
    """Test only: a fault planned at a step must strike at that step, not wherever the throttled
    progress.json happened to be read (npm run bench:recovery checks it). FINETUNE_TEST_HOLD_AT
    ("sft:3,sft:17") names the steps; the first job of the stage to end such a step writes
    progress.json at exactly that step and waits there (FINETUNE_TEST_HOLD_S, default 60 s) for
    the planned fault. A SIGTERM ends the wait at once, and so the notice is handled at that same
    step. Each hold is taken once per run (a marker file in FINETUNE_TEST_HOLD_DIR), so the job
    that resumes after the fault trains through the step."""

    def __init__(
        self, stage: str, steps: set[int], marker_dir: Path, progress: Progress, stop: StopFlag, seconds: float
    ):
        self.stage, self.steps, self.marker_dir = stage, steps, marker_dir
        self.progress, self.stop, self.seconds = progress, stop, seconds

    @classmethod
    def from_env(cls, ctx: StageContext, progress: Progress, stop: StopFlag) -> HoldAtStep | None:
        spec, folder = os.environ.get("FINETUNE_TEST_HOLD_AT"), os.environ.get("FINETUNE_TEST_HOLD_DIR")
        if not spec or not folder or not ctx.rank.is_zero:
            return None
        steps = {int(step) for stage, _, step in (p.partition(":") for p in spec.split(",")) if stage == ctx.stage}
        seconds = float(os.environ.get("FINETUNE_TEST_HOLD_S") or 60)
        return cls(ctx.stage, steps, Path(folder), progress, stop, seconds) if steps else None

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        marker = self.marker_dir / f"{self.stage}-{step}"
        if step not in self.steps or marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        self.progress.update(step=step)
        print(f"holding at step {step} for a planned fault (FINETUNE_TEST_HOLD_AT)", file=sys.stderr, flush=True)
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not self.stop.requested:
            time.sleep(0.05)


def stage_progress(ctx: StageContext, p: TrainingParams) -> Progress:
    """progress.json of this stage; written by rank 0 only (a single-process stage is rank 0)."""
    return Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, p.max_steps, enabled=ctx.rank.is_zero)


def training_args(p: TrainingParams, output_dir: Path, use_bf16: bool) -> dict[str, Any]:
    """Keyword arguments common to SFTConfig and DPOConfig."""
    import torch

    return dict(
        output_dir=str(output_dir),
        max_steps=p.max_steps,
        per_device_train_batch_size=p.batch_size,
        gradient_accumulation_steps=p.gradient_accumulation_steps,
        learning_rate=p.learning_rate,
        lr_scheduler_type=p.lr_scheduler,
        warmup_steps=p.warmup_steps,
        save_strategy="steps",
        save_steps=p.save_steps,
        logging_steps=p.logging_steps,
        seed=p.seed,
        data_seed=p.seed,
        max_length=p.max_length,
        # trl defaults bf16 on and gradient checkpointing on: wrong for CPU and tiny models.
        bf16=use_bf16,
        fp16=False,
        gradient_checkpointing=p.gradient_checkpointing,
        use_cpu=not torch.cuda.is_available(),
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        save_total_limit=None,
        # LoRA leaves the base frozen: no unused trainable parameters to search for each step.
        ddp_find_unused_parameters=False,
    )


def lora_config(lora: Lora, targets: list[str]):
    """The LoraConfig of params.lora on `targets` (families.lora_targets: `all-linear` resolved per family)."""
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        modules_to_save=lora.modules_to_save or None,
        task_type="CAUSAL_LM",
    )


def run_training(
    ctx: StageContext,
    p: TrainingParams,
    trainer,
    progress: Progress,
    stop: StopFlag,
    resume_path: str | None,
    start_step: int,
) -> tuple[bool, Any]:
    """Train; returns (interrupted, train_output). On interruption the checkpoint is committed."""
    if debug_param(ctx.params, "debug_freeze_adapter"):
        # What PeftModel.from_pretrained without is_trainable=True does (peft issue 282).
        for name, param in trainer.model.named_parameters():
            if "lora_" in name:
                param.requires_grad_(False)
    n = trainable_count(trainer.model)
    if n == 0:
        raise StageFailure(
            "no_op_training",
            "no trainable parameters before the first step (an adapter loaded "
            "frozen? PeftModel.from_pretrained needs is_trainable=True)",
        )
    print(f"trainable parameters: {n}", file=sys.stderr, flush=True)
    cb = DurableCallback(ctx, progress, stop, start_step)
    trainer.add_callback(MovedCheck(p.noop_check_steps))
    # Before DurableCallback: a notice that ends a hold is acted on at the step held.
    hold = HoldAtStep.from_env(ctx, progress, stop)
    if hold:
        trainer.add_callback(hold)
    trainer.add_callback(cb)
    fault, at_step = debug_param(ctx.params, "debug_inject"), ctx.params.get("debug_inject_at_step")
    if fault and at_step is not None and fault_on_this_rank(ctx):
        trainer.add_callback(FaultAtStep(str(fault), int(at_step)))
    tracker = stage_tracker(ctx, p.tracking, job_tag(ctx.job_id), start_step)
    if tracker is None:
        return _train(ctx, trainer, progress, stop, resume_path, cb)
    # First, so that the step a later callback stops on (the DPO collapse guard) is tracked too.
    trainer.callback_handler.callbacks.insert(0, tracker)
    outcome = "failed"
    try:
        interrupted, out = _train(ctx, trainer, progress, stop, resume_path, cb)
        outcome = "interrupted" if interrupted else "finished"
        return interrupted, out
    finally:
        tracker.close(outcome)


def _train(
    ctx: StageContext, trainer, progress: Progress, stop: StopFlag, resume_path: str | None, cb: DurableCallback
) -> tuple[bool, Any]:
    try:
        out = trainer.train(resume_from_checkpoint=resume_path)
    except BaseException:
        # Training failed: the checkpoint in flight is still worth committing; its own error is not the story.
        with contextlib.suppress(Exception):
            cb.uploads.drain()
        raise
    cb.uploads.drain()
    step = trainer.state.global_step
    # Agreed once more after the last step: a notice that reached one rank after the last step end
    # must send every rank down the same path (a save that all ranks join, or none).
    if cb.stopped_by_signal or stop.agreed():
        if cb.last_saved != step:
            # The signal came after the last step end (or the save was skipped): save now.
            trainer._save_checkpoint(trainer.model, trial=None)
            cb.on_save(trainer.args, trainer.state, trainer.control)
            cb.uploads.drain()
        progress.update(step=step)
        return True, out
    return False, out


def trainable_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
