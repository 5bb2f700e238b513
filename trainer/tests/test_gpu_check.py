"""test/gpu/gpu_check.py skips cleanly where there is no GPU (the GPU path is run by hand on one)."""
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "test" / "gpu" / "gpu_check.py"


def test_gpu_check_skips_without_a_gpu():
    r = subprocess.run([sys.executable, str(SCRIPT)], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("skipped: no GPU")
