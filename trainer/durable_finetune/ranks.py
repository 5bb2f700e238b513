"""Which rank this stage process is, and what ranks share, when a stage runs as several ranks.

A training stage with params.ranks > 1 is started by the agent as one process
(the launcher, launcher.py) that starts the ranks under torchrun with
FINETUNE_RANKS_DIR pointing at a folder they share:

  plan.json           the resume decision, made once by the launcher: every rank
                      resumes from the same committed checkpoint
  failed-rank<r>.json what rank r died of (class, message, evidence, when); the
                      launcher turns the root cause into the stage's status

A process without FINETUNE_RANKS_DIR is a single-process stage: rank 0 of 1.
Rank 0 alone writes to the store (progress, checkpoints, outputs, status).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .lifeline import arm_parent_death_signal

RANKS_DIR_ENV = "FINETUNE_RANKS_DIR"


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    shared_dir: Path | None = None  # None: not started by the launcher

    @property
    def is_zero(self) -> bool:
        return self.rank == 0

    @property
    def launched(self) -> bool:
        return self.shared_dir is not None


def this_rank() -> Rank:
    shared = os.environ.get(RANKS_DIR_ENV)
    if not shared:
        return Rank()
    rank = int(os.environ["RANK"])
    return Rank(
        rank=rank,
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", rank)),
        shared_dir=Path(shared),
    )


def write_json_atomic(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, default=str))
    os.replace(tmp, path)


# -- the resume plan (launcher writes, every rank reads) --


def write_plan(shared_dir: Path, resume_path: str | None, start_step: int) -> None:
    write_json_atomic(shared_dir / "plan.json", {"resume_path": resume_path, "start_step": start_step})


def read_plan(shared_dir: Path) -> tuple[str | None, int]:
    plan = json.loads((shared_dir / "plan.json").read_text())
    return plan["resume_path"], int(plan["start_step"])


# -- failures (each rank writes its own, the launcher reads them all) --


def record_failure(
    me: Rank,
    failure_class: str,
    message: str,
    *,
    known: bool,
    metrics: dict | None = None,
    log_tail: list[str] | None = None,
) -> None:
    """`known`: a StageFailure the stage classified itself (continuity, dpo_collapsed, ...),
    not an exception classified from its traceback."""
    if me.shared_dir is None:
        return
    write_json_atomic(
        me.shared_dir / f"failed-rank{me.rank}.json",
        {
            "rank": me.rank,
            "failure_class": failure_class,
            "message": message,
            "known": known,
            "metrics": metrics or {},
            "log_tail": log_tail or [],
            "at": time.time(),
            "pid": os.getpid(),
        },
    )


def read_failures(shared_dir: Path) -> dict[int, dict]:
    out = {}
    for f in sorted(shared_dir.glob("failed-rank*.json")):
        try:
            rec = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out[int(rec["rank"])] = rec
    return out


# -- collectives that keep ranks in step (no-ops with one process) --


def _group_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    """Every rank gets here before any goes on (e.g. all have written their part of a checkpoint)."""
    if _group_size() > 1:
        import torch.distributed as dist

        dist.barrier()


T = TypeVar("T")


def decided_by_rank_zero(compute: Callable[[], T]) -> T:
    """Rank 0 computes a value and every rank gets it, so that a decision (a probe metric
    the collapse guard acts on) is the same on all ranks and none waits in a collective
    the others skipped. If rank 0 raises, the others wait here until torchrun, seeing
    rank 0 exit, stops them."""
    if _group_size() < 2:
        return compute()
    import torch.distributed as dist

    box = [compute() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[return-value]  # rank 0's value, sent to every rank


def die_with_torchrun() -> None:
    """A rank dies with the torchrun that started it (and so with the stage and the agent)."""
    arm_parent_death_signal()
    if os.getppid() == 1:  # torchrun died before prctl took effect
        print("rank: torchrun is gone before the rank started; exiting", file=sys.stderr, flush=True)
        os._exit(1)
