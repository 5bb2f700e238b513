import signal

import pytest
from durable_finetune.diagnosis import classify


@pytest.mark.parametrize(
    "code,sig,log,expected",
    [
        (1, None, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate", "oom"),
        (1, None, "Traceback...\nMemoryError", "oom"),
        (-11, signal.SIGSEGV, "Fatal Python error: Segmentation fault", "segfault"),
        (137, signal.SIGKILL, "step 10", "killed"),
        (1, None, "OSError: [Errno 28] No space left on device", "disk_full"),
        (1, None, "torch.distributed.DistBackendError: NCCL error in: ...", "distributed"),
        (1, None, "RuntimeError: [gloo] Connection closed by peer", "distributed"),
        (1, None, "ValueError: something else", "error"),
    ],
)
def test_classify(code, sig, log, expected):
    assert classify(code, sig, log) == expected
