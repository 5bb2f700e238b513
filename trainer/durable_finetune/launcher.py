"""The stage process of a multi-rank training stage: starts the ranks under torchrun and answers for them.

With params.ranks > 1 (sft, dpo) the process the agent started does not train. It
- downloads the job's store inputs once, so the ranks read a warm local cache
  instead of racing N downloads into it;
- decides the resume point once (prepare_resume: download the newest valid
  committed checkpoint, or drop old ones for a fresh job) and writes it to
  plan.json, so every rank resumes from the same checkpoint;
- starts `python -m torch.distributed.run --standalone --nproc-per-node=N
  --max-restarts=0 -m <stage module>` (gloo on CPU, nccl on GPU: the Trainer
  picks), in the host's process group and dying with this process; each rank
  dies with torchrun (ranks.die_with_torchrun);
- forwards SIGTERM (the preemption notice) to torchrun, which sends it to
  every rank; the ranks all-reduce their stop flag, save together, and rank 0
  commits one checkpoint and writes `interrupted`;
- when torchrun ends: rank 0's `succeeded` or `interrupted` status stands;
  otherwise the stage fails with the class of the rank that failed first (a
  rank's own failure outranks the `distributed` errors its peers get when it
  dies), naming what each rank died of.
torchrun stops every rank as soon as one exits non-zero, so a rank that raises
(a continuity check, a collapse) never leaves the others waiting in a collective.
"""

from __future__ import annotations

import collections
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

from .diagnosis import classify, signal_name
from .lifeline import die_with_parent
from .ranks import RANKS_DIR_ENV, read_failures, write_plan
from .resume import prepare_resume
from .runtime import StageContext, StageFailure

OUTPUT_LINES_KEPT = 400

# torchrun's failure summary: one block per failed rank.
_RANK_EXIT = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")

# Classes a rank gets because another one died: they name a consequence, not the cause.
_CONSEQUENCES = {"distributed": 0, "killed": 1, "error": 2}


def wanted_ranks(value: int | str) -> int:
    """params.ranks: a number, or 'auto': one rank per GPU this host has, one without."""
    if value == "auto":
        import torch

        return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    try:
        ranks = int(value)
    except (TypeError, ValueError):
        ranks = 0
    if ranks < 1 or str(ranks) != str(value).strip():
        raise StageFailure("bad_data", f"params.ranks must be a whole number >= 1, got {value!r}")
    return ranks


def check_devices(ctx: StageContext, ranks: int) -> None:
    """One rank per GPU: fewer GPUs than ranks fails now, not in NCCL's init."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() < ranks:
        raise StageFailure(
            "distributed",
            f"{ctx.stage}.ranks is {ranks} but this host has "
            f"{torch.cuda.device_count()} GPU(s); one rank needs one GPU",
        )


class RankLauncher:
    def __init__(self, ctx: StageContext, module: str, argv: list[str], ranks: int):
        self.ctx, self.module, self.argv = ctx, module, argv
        self.ranks = ranks
        self.shared_dir = ctx.local_dir / "ranks"
        self.proc: subprocess.Popen | None = None
        self.stopping = False
        self._forwarded = False
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)

    def on_sigterm(self, signum=None, frame=None) -> None:  # noqa: ARG002
        if self.stopping:
            return  # the agent repeats the notice; see _forward_stop
        print(f"launcher: SIGTERM received: passing it to the {self.ranks} ranks", file=sys.stderr, flush=True)
        self.stopping = True
        self._forward_stop()

    def _forward_stop(self) -> None:
        """Once only: a second SIGTERM to torchrun interrupts its wait for the ranks to stop, and it
        exits at once; the ranks, dying with it, would be killed before they commit."""
        if self.proc is not None and self.proc.poll() is None and not self._forwarded:
            self._forwarded = True
            try:
                self.proc.send_signal(signal.SIGTERM)  # torchrun sends it on to every rank
            except ProcessLookupError:
                pass

    def run(self) -> None:
        # First: a notice during the downloads below must not kill this process without a status.
        signal.signal(signal.SIGTERM, self.on_sigterm)
        check_devices(self.ctx, self.ranks)
        shutil.rmtree(self.shared_dir, ignore_errors=True)  # no failure record of an earlier launch
        self.shared_dir.mkdir(parents=True)
        for name, value in self.ctx.inputs.items():
            if isinstance(value, str) and value.startswith(("runs/", "gs://")):
                self.ctx.input_path(name)
        resume_path, start_step = prepare_resume(self.ctx)
        write_plan(self.shared_dir, resume_path, start_step)
        if self.stopping:
            self.ctx.write_status(
                "interrupted",
                message=f"stopped by SIGTERM before the ranks started; resumes from step {start_step}",
                steps_done=start_step,
                resumed_from_step=start_step,
            )
            return
        rc = self.start_and_wait()
        self.settle(rc, start_step)

    def start_and_wait(self) -> int:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={self.ranks}",
            "--max-restarts=0",
            "-m",
            self.module,
            *self.argv,
        ]
        print(f"launcher: {' '.join(cmd)}", file=sys.stderr, flush=True)
        env = {**os.environ, RANKS_DIR_ENV: str(self.shared_dir)}
        # In the host's process group like this stage; dies with this stage.
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(os.getpid())
        )
        if self.stopping:  # the notice came while torchrun was starting
            self._forward_stop()
        copier = threading.Thread(target=self._copy_output, daemon=True)
        copier.start()
        rc = self.proc.wait()
        copier.join(timeout=10)
        return rc

    def _copy_output(self) -> None:
        """torchrun's and the ranks' output goes on to this stage's log; the tail is kept to read
        torchrun's failure summary (which rank, which exit code)."""
        out = sys.stdout.buffer
        assert self.proc is not None and self.proc.stdout is not None  # started with stdout=PIPE before this thread
        for raw in self.proc.stdout:
            out.write(raw)
            out.flush()
            self.output.append(raw.decode(errors="replace").rstrip("\n"))

    def settle(self, rc: int, start_step: int) -> None:
        """Turn torchrun's end into the stage's outcome (returns: rank 0's status stands)."""
        ctx = self.ctx
        status = ctx.store.get_json(ctx.key("status.json")) or {}
        if status.get("job_id") == ctx.job_id and status.get("state") in ("succeeded", "interrupted"):
            if rc != 0:
                print(
                    f"launcher: torchrun exit code {rc} after rank 0 wrote {status['state']}",
                    file=sys.stderr,
                    flush=True,
                )
            return
        failures = read_failures(self.shared_dir)
        exits = rank_exits("\n".join(self.output))
        if self.stopping and only_consequences(failures, exits):
            # The notice reached ranks still starting (no handler yet: killed by it, their peers then
            # failing to talk to them), or stopped them before rank 0 wrote a status: a preemption
            # to resume from, not a failure.
            ctx.write_status(
                "interrupted",
                message=f"stopped by SIGTERM; torchrun exit code {rc}, rank exits "
                f"{exits or 'unknown'}; resumes from the newest committed "
                f"checkpoint",
                steps_done=None,
                resumed_from_step=start_step,
            )
            return
        raise rank_failure(failures, exits, self.ranks, rc, list(self.output))


def rank_exits(torchrun_output: str) -> dict[int, int]:
    """rank -> exit code, from torchrun's ChildFailedError summary (negative: killed by that signal)."""
    return {int(r): int(code) for r, code in _RANK_EXIT.findall(torchrun_output)}


def only_consequences(failures: dict[int, dict], exits: dict[int, int]) -> bool:
    """No rank failed for a reason of its own: every failure is one a stop or a peer's exit explains."""
    classes = [rec["failure_class"] for rec in failures.values()]
    classes += [classify(None, -code, "") for r, code in exits.items() if code < 0 and r not in failures]
    return all(c in _CONSEQUENCES for c in classes)


def rank_failure(
    failures: dict[int, dict], exits: dict[int, int], world: int, rc: int, output: list[str]
) -> StageFailure:
    """The stage's failure from what each rank recorded and how torchrun saw each exit."""
    seen = []
    for r, rec in failures.items():
        seen.append(
            {
                "rank": r,
                "class": rec["failure_class"],
                "why": rec["message"],
                "at": rec["at"],
                "metrics": rec.get("metrics") or {},
            }
        )
    for r, code in exits.items():
        if r in failures:
            continue
        sig = -code if code < 0 else None
        klass = classify(None if sig else code, sig, "")
        why = f"killed by {signal_name(sig)}" if sig else f"exit code {code} without a failure record"
        seen.append({"rank": r, "class": klass, "why": why, "at": math.inf, "metrics": {}})
    if not seen:
        text = "\n".join(output[-OUTPUT_LINES_KEPT:])
        last = next((line for line in reversed(output) if line.strip()), "")
        return StageFailure(
            classify(rc, None, text), f"torchrun exited with code {rc} before any of the {world} ranks reported: {last}"
        )
    seen.sort(key=lambda s: (-_CONSEQUENCES.get(s["class"], 3), s["at"], s["rank"]))
    first, rest = seen[0], seen[1:]
    message = f"rank {first['rank']} of {world} failed: {first['class']}: {first['why']}"
    if rest:
        message += "; then " + "; ".join(f"rank {s['rank']}: {s['class']}: {s['why'][:200]}" for s in rest)
    message += f" (torchrun exit code {rc})"
    return StageFailure(first["class"], message, metrics=first["metrics"])


def launch_ranks(ctx: StageContext, module: str, argv: list[str], ranks: int) -> None:
    RankLauncher(ctx, module, argv, ranks).run()
