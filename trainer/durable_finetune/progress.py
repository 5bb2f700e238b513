"""Writes stages/<stage>/progress.json: what the control plane heartbeats on.

Throttled (at most one write per `min_interval_s`) so a fast CPU run does not
hammer the store; `force=True` at checkpoints and at the end. With several
ranks only rank 0's is `enabled`: the others keep their state but never write.
Thread-safe: a checkpoint committed in the background (checkpoint.CheckpointUploads)
updates last_checkpoint_step while the training thread logs steps.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TypedDict

from .contract import ProgressFile
from .store import Store
from .timeutil import now_iso

if TYPE_CHECKING:
    from typing_extensions import Unpack


class ProgressFields(TypedDict, total=False):
    """The fields of progress.json a stage sets outright (Progress.update)."""

    step: int
    total_steps: int
    metrics: dict[str, float | None]
    last_checkpoint_step: int | None
    resumed_from_step: int


class Progress:
    def __init__(
        self,
        store: Store,
        key: str,
        job_id: str,
        stage: str,
        total_steps: int,
        min_interval_s: float = 1.0,
        enabled: bool = True,
    ):
        self.store, self.key = store, key
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self._last_write = 0.0
        self._lock = threading.RLock()
        self.state: ProgressFile = {
            "job_id": job_id,
            "stage": stage,
            "step": 0,
            "total_steps": total_steps,
            "loss": None,
            "metrics": {},
            "last_checkpoint_step": None,
            "resumed_from_step": 0,
            "history": [],
            "updated_at": now_iso(),
        }

    def log(self, step: int, loss: float | None, metrics: dict[str, float] | None = None, force: bool = False) -> None:
        with self._lock:
            logged: dict[str, float | None] = dict(metrics or {})
            self.state["step"] = step
            if loss is not None:
                self.state["loss"] = loss
            self.state["metrics"] = logged
            entry = {"step": step, "loss": loss, **logged}
            hist = self.state["history"]
            if hist and hist[-1]["step"] == step:
                hist[-1].update({k: v for k, v in entry.items() if v is not None})
            else:
                hist.append(entry)
            self.write(force=force)

    def update(self, force: bool = True, **fields: Unpack[ProgressFields]) -> None:
        with self._lock:
            self.state.update(fields)
            self.write(force=force)

    def write(self, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_write < self.min_interval_s:
                return
            self._last_write = now
            self.state["updated_at"] = now_iso()
            self.store.put_json(self.key, self.state)
