"""Test-only fault injection: a stage that fails the way real ones do, for the crash-diagnosis
and recovery tests (trainer/tests/test_faults.py, npm run bench:recovery).

Driven by the test-only params, `debug_*`: a module reads one through debug_param, which honours
it only with FINETUNE_ALLOW_FAULT_INJECTION=1, so that a production config cannot turn one on.
debug_inject (where debug_inject_at_step and debug_fault_rank place it) is injected here; the
stages' own (debug_freeze_adapter, debug_reinit_policy, debug_hang_rank) act where they are read.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from .runtime import StageContext, StageFailure

FAULTS = ("segfault", "oom", "host_oom", "disk_full", "hang")


def inject_fault(fault: str) -> None:
    """Fail the way a real stage does, for the crash-diagnosis tests. Only called when
    FINETUNE_ALLOW_FAULT_INJECTION=1 (see fault_injection_allowed)."""
    print(f"injecting fault {fault!r} (params.debug_inject)", file=sys.stderr, flush=True)
    if fault == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV, faulthandler prints the stack
    elif fault == "oom":
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
    elif fault == "host_oom":
        raise MemoryError("injected host out of memory")
    elif fault == "disk_full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "checkpoint-25/optimizer.pt")
    elif fault == "hang":
        while True:  # no progress, no status: the control plane's hang_timeout must catch it
            time.sleep(3600)
    else:
        raise StageFailure("bad_data", f"params.debug_inject {fault!r} is not one of {', '.join(FAULTS)}")


def fault_injection_allowed() -> bool:
    return os.environ.get("FINETUNE_ALLOW_FAULT_INJECTION") == "1"


def debug_param(params: dict, name: str):
    """A test-only param (debug_*): honoured only where fault injection is allowed, so a
    production config cannot turn one on by accident."""
    value = params.get(name)
    if value and not fault_injection_allowed():
        print(f"ignoring params.{name}: FINETUNE_ALLOW_FAULT_INJECTION is not 1", file=sys.stderr, flush=True)
        return None
    return value


def injects_here(ctx: StageContext) -> bool:
    """A test fault goes off at the start, in every rank or only in params.debug_fault_rank; with
    params.debug_inject_at_step it goes off at that step instead (training.FaultAtStep)."""
    if ctx.params.get("debug_inject_at_step") is not None:
        return False
    return fault_on_this_rank(ctx)


def fault_on_this_rank(ctx: StageContext) -> bool:
    only = ctx.params.get("debug_fault_rank")
    return only is None or int(only) == ctx.rank.rank
