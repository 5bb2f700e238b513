"""A child process dies with its parent: no orphan keeps training beside a resumed job.

Linux PR_SET_PDEATHSIG: the kernel sends SIGKILL to the child when the parent
that started it exits, however it exits (SIGKILL included). The agent arms it
for each stage, the stage for torchrun, and each rank for itself (torchrun
starts ranks in their own sessions, so a signal to the host's process group
does not reach them: this is what does).
"""

from __future__ import annotations

import os
import signal
import sys


def arm_parent_death_signal() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def die_with_parent(parent_pid: int):
    """preexec_fn for subprocess.Popen: the child gets SIGKILL when `parent_pid` dies."""

    def arm() -> None:
        arm_parent_death_signal()
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return arm
