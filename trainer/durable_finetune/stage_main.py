"""The main of every stage process: run_stage parses the arguments, runs the stage's body
against its StageContext (runtime.py) and always leaves a status.

With params.ranks > 1 a training stage's process becomes the launcher of its ranks
(launcher.py); in a rank, a failure is recorded for that launcher instead.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .diagnosis import classify
from .faults import debug_param, inject_fault, injects_here
from .launcher import launch_ranks, wanted_ranks
from .params import ParamsInvalid, stage_params
from .ranks import Rank, die_with_torchrun, record_failure, this_rank
from .runtime import StageContext, StageFailure
from .store import open_store


def run_stage(body: Callable[[StageContext, Any], None], torchrun_module: str | None = None) -> None:
    """Entry point shared by all stages: parse args, run body(ctx, the stage's typed params from
    params.py), always leave a status. Params that do not fit the stage fail it as bad_data first.

    torchrun_module (training stages): with params.ranks > 1 this process becomes the launcher
    (launcher.py) that runs `torchrun_module` on each rank; in a rank, a failure is recorded for
    the launcher, which writes the stage's failed status from the rank that failed first."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", required=True, help="local path of the job JSON")
    ap.add_argument("--store", required=True, help="store URI (file:///abs or gs://bucket/prefix)")
    ap.add_argument("--workdir", default=os.environ.get("DF_WORKDIR", ".df-work"))
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    faulthandler.enable()  # a segfault or hang dump shows where it happened
    me = this_rank()
    if me.launched:
        die_with_torchrun()
    job = json.loads(Path(args.job).read_text())
    ctx = StageContext(job, open_store(args.store), Path(args.workdir).resolve(), me)
    try:
        try:
            params = stage_params(ctx.stage, ctx.params)
        except ParamsInvalid as e:
            raise StageFailure("bad_data", str(e)) from None
        if torchrun_module and not me.launched:
            ranks = wanted_ranks(params.ranks)
            if ranks > 1:
                launch_ranks(ctx, torchrun_module, argv, ranks)  # the ranks inject any test fault, not this process
                return
        fault = debug_param(ctx.params, "debug_inject")
        if fault and injects_here(ctx):
            inject_fault(str(fault))
        body(ctx, params)
    except StageFailure as e:
        print(f"stage failed{rank_label(me)}: {e.failure_class}: {e}", file=sys.stderr, flush=True)
        if me.launched:
            record_failure(me, e.failure_class, str(e), known=True, metrics=e.metrics)
        else:
            ctx.write_status("failed", failure_class=e.failure_class, message=str(e), exit_code=1, metrics=e.metrics)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - every failure must leave a classified status
        tb = traceback.format_exc()
        print(tb, file=sys.stderr, flush=True)
        klass, message = classify(1, None, tb), f"{type(e).__name__}: {e}"
        if me.launched:
            record_failure(me, klass, message, known=False, log_tail=tb.splitlines()[-40:])
        else:
            ctx.write_status(
                "failed", failure_class=klass, message=message, exit_code=1, log_tail=tb.splitlines()[-40:]
            )
        sys.exit(1)


def rank_label(me: Rank) -> str:
    return f" (rank {me.rank} of {me.world_size})" if me.launched else ""
