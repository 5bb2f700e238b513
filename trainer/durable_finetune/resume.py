"""Where a training stage resumes: the newest valid committed checkpoint of its own lineage.

Decided once per stage: by the single process of a one-rank stage (resume_point ->
prepare_resume), or by the launcher before it starts the ranks (launcher.py writes the
decision to plan.json; each rank reads it back with resume_point). Apart from training.py
so that the launcher decides it without importing the training libraries.
"""

from __future__ import annotations

import sys

from .checkpoint import checkpoint_steps, fetch_verified, newest_valid_checkpoint, verified_in_store
from .ranks import read_plan
from .runtime import StageContext


def resume_point(ctx: StageContext) -> tuple[str | None, int]:
    """(local checkpoint path or None, step): in a rank, the launcher's decision, the same for
    every rank; in a single-process stage, prepare_resume."""
    if ctx.rank.shared_dir is not None:  # launched
        return read_plan(ctx.rank.shared_dir)
    return prepare_resume(ctx)


def job_tag(job_id: str) -> str:
    """`sft-3` -> `sft`, `dpo.r2-1` -> `dpo.r2`: the lineage a job continues."""
    return job_id.rsplit("-", 1)[0]


def prepare_resume(ctx: StageContext) -> tuple[str | None, int]:
    """(local checkpoint path or None, step). A fresh (non-resume) job drops old checkpoints,
    so that a later resume can never pick up a checkpoint of a different attempt's lineage.

    A job resumes only checkpoints of its own lineage: the same job tag (`sft`, `dpo`,
    `dpo.r2`: the job id without its `-<n>`). A rerun of a run id whose DPO had moved on
    to a gentler attempt must not continue that attempt's weights under the first one's
    settings; it starts fresh instead."""
    prefix = ctx.key("checkpoints")
    restore_dir = ctx.local_dir / "resume"
    made_by: dict[str, str] = {}  # key -> the job that committed it, from the manifest read once

    def fetched(step: int, key: str, manifest: dict) -> bool:
        # The checkpoint resumed from is checked as it downloads: read once, not verified in the
        # store and then downloaded. Another lineage's is only checked where it lies (not resumed).
        made_by[key] = manifest.get("job_id") or ""
        if job_tag(made_by[key]) != job_tag(ctx.job_id):
            return verified_in_store(ctx.store, key, manifest)
        problem = fetch_verified(ctx.store, key, manifest, restore_dir / f"checkpoint-{step}")
        if problem:
            print(problem, file=sys.stderr, flush=True)
        return problem is None

    found = newest_valid_checkpoint(ctx.store, prefix, verify=fetched) if ctx.resume else None
    if found and job_tag(made_by[found[1]]) != job_tag(ctx.job_id):
        print(
            f"{found[1]} was committed by {made_by[found[1]]}, another lineage than {ctx.job_id}: starting from step 0",
            file=sys.stderr,
            flush=True,
        )
        found = None
    if not found:
        if ctx.resume:
            print(
                "resume requested but no valid committed checkpoint of this lineage: starting from step 0",
                file=sys.stderr,
            )
        for key in checkpoint_steps(ctx.store, prefix).values():
            ctx.store.delete_prefix(key + "/")
        return None, 0
    step, key = found
    print(f"resuming from {key}", file=sys.stderr, flush=True)
    return str(restore_dir / f"checkpoint-{step}"), step
