"""Experiment tracking while a training stage runs: TensorBoard always, MLflow and W&B when configured.

Every logged step's metrics (loss, learning rate, grad norm, tokens/s, and for DPO
whatever reward, margin, accuracy, logps or KL figures trl logs) go to each sink
under one name, `train/<trl name>`. TensorBoard event files are written on the
host and uploaded to the store under runs/<run>/tensorboard/<lineage>/ (lineage:
`sft`, `dpo`, `dpo.r2`: one TensorBoard run per DPO attempt), so
`tensorboard --logdir <store>/runs/<run>/tensorboard` shows every stage.

Tracking never slows or fails training: each sink runs in its own thread behind a
queue, and a sink that fails (a server down, a refused key) is logged once and
dropped; the rest of the run goes on without it. A resumed job writes a new event
file whose first event purges the steps after the checkpoint it resumed from
(TensorBoard's purge_step), and continues the same MLflow and W&B run.
Only rank 0 tracks (the ranks train the same model on the same steps).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any

from transformers import TrainerCallback

from .tracking_sinks import MlflowSink, TensorBoardSink, WandbSink, tensorboard_key

# How long the end of a stage waits for the sinks to deliver what is queued and close; after a
# SIGTERM less, so the stage exits within the agent's grace (agent.STOP_GRACE_S, 25 s).
CLOSE_TIMEOUT_S = {"finished": 30.0, "failed": 30.0, "interrupted": 5.0}
# Keys of a trl step log that are not per-step figures.
_NOT_METRICS = ("epoch", "num_tokens", "step")


def step_metrics(logs: dict[str, Any], tokens_per_second: float | None) -> dict[str, float]:
    """One step log as tracked metrics: every number trl logged, named `train/<name>`."""
    out = {
        f"train/{k}": float(v)
        for k, v in logs.items()
        if k not in _NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if tokens_per_second is not None:
        out["train/tokens_per_second"] = tokens_per_second
    return out


def run_params(params: dict) -> dict[str, Any]:
    """The stage's settings as MLflow params and W&B config: no tracking section (secret
    references), no test-only debug_* keys; nested dicts flattened (`lora.r`)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if not prefix and (k == "tracking" or k.startswith("debug_")):
                continue
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                out[f"{prefix}{k}"] = v

    walk("", params)
    return out


class Channel:
    """One sink behind a queue and a thread of its own; its first failure is logged once
    (with any secret the sink knows redacted) and ends it, never the training."""

    def __init__(self, sink):
        self.sink = sink
        self.failed: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"tracking-{sink.name}", daemon=True)
        self._thread.start()

    def put(self, *item) -> None:
        if self.failed is None:
            self._queue.put(item)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        doing = "start"
        try:
            self.sink.open()
            while True:
                item = self._queue.get()
                doing = item[0]
                getattr(self.sink, item[0])(*item[1:])
                if item[0] == "close":
                    return
        except Exception as e:  # noqa: BLE001 - a tracking failure must never reach the training
            self.fail(doing, e)

    def fail(self, doing: str, e: BaseException) -> None:
        text = f"{type(e).__name__}: {e}"
        for secret in getattr(self.sink, "secrets", ()):
            text = text.replace(secret, "[secret]")
        self.failed = text
        print(
            f"tracking: {self.sink.name} failed at {doing} and is off for the rest of this job "
            f"(training goes on): {text}",
            file=sys.stderr,
            flush=True,
        )


class Tracker(TrainerCallback):
    """Fans each step log out to the sinks' channels; `close` ends them at the stage's end."""

    def __init__(self, sinks: list):
        self.channels = [Channel(s) for s in sinks]
        self._last: tuple[float, float] | None = None  # (monotonic time, num_tokens) of the last log

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = (time.monotonic(), 0.0)  # trl counts num_tokens from 0 in each process

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "train_runtime" in logs:
            return  # the end-of-train summary, not a step
        now, rate = time.monotonic(), None
        tokens = logs.get("num_tokens")
        if isinstance(tokens, (int, float)) and self._last is not None:
            t0, n0 = self._last
            if tokens > n0 and now > t0:
                rate = (tokens - n0) / (now - t0)
            self._last = (now, float(tokens))
        metrics = step_metrics(logs, rate)
        if metrics:
            for ch in self.channels:
                ch.put("log", state.global_step, metrics, time.time())

    def on_save(self, args, state, control, **kwargs):
        for ch in self.channels:
            ch.put("sync")

    def close(self, outcome: str) -> None:
        """outcome: `finished`, `interrupted` (a later job resumes) or `failed`. Waits at most
        CLOSE_TIMEOUT_S[outcome] in all; a sink still busy then is left behind (a daemon thread)."""
        for ch in self.channels:
            ch.put("close", outcome)
        wait = CLOSE_TIMEOUT_S[outcome]
        deadline = time.monotonic() + wait
        for ch in self.channels:
            if not ch.join(max(0.0, deadline - time.monotonic())) and ch.failed is None:
                ch.fail("close", TimeoutError(f"still busy after {wait:.0f} s"))


def stage_tracker(ctx, tracking: dict | None, lineage: str, start_step: int) -> Tracker | None:
    """The tracker of a training stage (rank 0 only): TensorBoard, plus params.tracking's
    mlflow and wandb when the config has them."""
    if not ctx.rank.is_zero:
        return None
    cfg = tracking or {}
    params = run_params(ctx.params)
    sinks: list = [
        TensorBoardSink(ctx.store, ctx.local_dir / "tensorboard", tensorboard_key(ctx.run_id, lineage), start_step)
    ]
    if cfg.get("mlflow"):
        sinks.append(MlflowSink(cfg["mlflow"], ctx.run_id, lineage, ctx.job_id, params))
    if cfg.get("wandb"):
        sinks.append(WandbSink(ctx.store, cfg["wandb"], ctx.run_id, lineage, params, ctx.local_dir / "wandb"))
    return Tracker(sinks)
