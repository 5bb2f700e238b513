"""Classify why a stage process died, from its exit code, signal and log.

The point is to never report just "process gone": the control plane decides
whether a retry on a new host can help from this class.
"""

from __future__ import annotations

import re
import signal as _signal

_PATTERNS = [
    # Order matters: the most specific evidence wins.
    ("oom", re.compile(r"CUDA out of memory|OutOfMemoryError|MemoryError|out of memory", re.I)),
    ("disk_full", re.compile(r"No space left on device|ENOSPC|Disk quota exceeded", re.I)),
    ("distributed", re.compile(r"NCCL|gloo|ProcessGroup|torch\.distributed|distributed", re.I)),
]


def classify(exit_code: int | None, sig: int | None, log_text: str) -> str:
    """Return a failure_class of the store contract."""
    for klass, pattern in _PATTERNS[:2]:
        if pattern.search(log_text):
            return klass
    if sig == _signal.SIGSEGV or exit_code in (-11, 139):
        return "segfault"
    if sig in (_signal.SIGKILL, _signal.SIGTERM) or exit_code in (-9, 137, 143):
        # An OOM kill by the kernel is a SIGKILL too and is not distinguishable here;
        # SIGTERM lands here only if it came before the stage installed its handler.
        return "killed"
    if _PATTERNS[2][1].search(log_text):
        return "distributed"
    return "error"


def signal_name(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return str(sig)
