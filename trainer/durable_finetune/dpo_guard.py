"""The DPO collapse guard: stop a DPO run that is destroying the model, with the evidence.

Three signs, any one stops the stage with `dpo_collapsed` and the metric
history in status.metrics (trl issues 1884, 1236, 2382):
- logps/chosen falls more than `collapse_logps_drop` nats below its first
  logged value (the policy stops producing the good answers too);
- within the first `collapse_early_steps` steps, rewards/accuracies reach 1.0
  while the DPO loss, softplus(-rewards/margins), is under `collapse_loss_floor`
  (the policy ran far from the reference almost at once);
- the task probe (strict tool-call match on `probe_items` eval prompts,
  greedy) falls more than `probe_margin` below its step-0 value, the SFT
  model's; probed every `probe_every` steps and after the last step.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from transformers import TrainerCallback

from .generation import generate_all
from .params import DpoParams
from .ranks import decided_by_rank_zero
from .runtime import StageFailure
from .toolcall import item_tool, matches

_HISTORY_KEYS = (
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
)


@dataclass(frozen=True)
class GuardConfig:
    logps_drop: float
    early_steps: int
    loss_floor: float
    probe_every: int
    probe_margin: float

    @classmethod
    def of(cls, p: DpoParams) -> GuardConfig:
        return cls(
            logps_drop=p.collapse_logps_drop,
            early_steps=p.collapse_early_steps,
            loss_floor=p.collapse_loss_floor,
            probe_every=p.probe_every,
            probe_margin=p.probe_margin,
        )


class TaskProbe:
    """Greedy generation on a few eval prompts, scored by strict tool-call match."""

    def __init__(self, items: list[dict], tokenizer, max_new_tokens: int):
        self.items = [it for it in items if self.scorable(it)]
        if not self.items:
            raise ValueError("a task probe needs eval items with messages and an expected_call")
        self.tokenizer, self.max_new_tokens = tokenizer, max_new_tokens

    @staticmethod
    def scorable(item: dict) -> bool:
        return bool(item.get("expected_call") and item.get("messages"))

    def __call__(self, model) -> float:
        was_training = model.training
        model.eval()
        try:
            outs = generate_all(model, self.tokenizer, self.items, self.max_new_tokens, len(self.items))
        finally:
            model.train(was_training)
        hits = [matches(it["expected_call"], out, item_tool(it)) for it, out in zip(self.items, outs)]
        return sum(hits) / len(hits)


class CollapseGuard(TrainerCallback):
    def __init__(self, cfg: GuardConfig, probe: TaskProbe | None = None, baseline: float | None = None):
        self.cfg, self.probe = cfg, probe
        self.baseline = baseline
        self.first_logps: float | None = None
        self.first_step: int | None = None
        self.history: list[dict] = []
        self.probes: list[dict] = [] if baseline is None else [{"step": 0, "metric": baseline}]

    def evidence(self, reason: str | None = None) -> dict:
        return {
            "collapse_reason": reason,
            "history": self.history,
            "probe_history": self.probes,
            "probe_baseline": self.baseline,
            "guard": {
                "collapse_logps_drop": self.cfg.logps_drop,
                "collapse_early_steps": self.cfg.early_steps,
                "collapse_loss_floor": self.cfg.loss_floor,
                "probe_every": self.cfg.probe_every,
                "probe_margin": self.cfg.probe_margin,
            },
        }

    def collapsed(self, reason: str, step: int) -> None:
        print(f"DPO collapse at step {step}: {reason}", file=sys.stderr, flush=True)
        raise StageFailure("dpo_collapsed", f"DPO collapsed at step {step}: {reason}", metrics=self.evidence(reason))

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "logps/chosen" not in logs:
            return
        step = state.global_step
        entry = {"step": step, **{k: float(logs[k]) for k in _HISTORY_KEYS if isinstance(logs.get(k), (int, float))}}
        margins = entry.get("rewards/margins")
        if margins is not None:
            entry["dpo_loss"] = _softplus(-margins)
        self.history.append(entry)
        chosen = entry["logps/chosen"]
        if self.first_logps is None:
            self.first_logps, self.first_step = chosen, step
        elif chosen < self.first_logps - self.cfg.logps_drop:
            self.collapsed(
                f"logps/chosen fell from {self.first_logps:.2f} (step {self.first_step}) to "
                f"{chosen:.2f}, more than collapse_logps_drop {self.cfg.logps_drop}",
                step,
            )
        early = step - (self.first_step or step) < self.cfg.early_steps
        if early and entry.get("rewards/accuracies", 0.0) >= 1.0 and entry.get("dpo_loss", 1.0) < self.cfg.loss_floor:
            self.collapsed(
                f"rewards/accuracies 1.0 with DPO loss {entry['dpo_loss']:.2g} < collapse_loss_floor "
                f"{self.cfg.loss_floor} within the first {self.cfg.early_steps} steps",
                step,
            )

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.probe and self.cfg.probe_every > 0 and state.global_step % self.cfg.probe_every == 0:
            self.check_probe(model, state.global_step)

    def check_probe(self, model, step: int) -> float | None:
        if self.probe is None:
            return None
        # Rank 0's value on every rank: the guard must stop all ranks or none.
        probe = self.probe
        metric = decided_by_rank_zero(lambda: probe(model))
        self.probes.append({"step": step, "metric": metric})
        print(f"task probe at step {step}: {metric:.3f} (step 0: {self.baseline})", file=sys.stderr, flush=True)
        if self.baseline is not None and metric < self.baseline - self.cfg.probe_margin:
            self.collapsed(
                f"task probe {metric:.3f} fell more than probe_margin {self.cfg.probe_margin} below "
                f"the SFT model's {self.baseline:.3f}",
                step,
            )
        return metric


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
