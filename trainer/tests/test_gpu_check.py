"""test/gpu/gpu_check.py skips cleanly where there is no GPU (it runs for real on one: test/gpu/README.md),
and the arithmetic it reports is right."""

import os
import subprocess
import sys
from pathlib import Path

GPU = Path(__file__).resolve().parents[2] / "test" / "gpu"
SCRIPT = GPU / "gpu_check.py"


def test_gpu_check_skips_without_a_gpu_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("skipped: no GPU (torch.cuda.device_count() is 0"), r.stdout
    assert not out.exists()


def test_model_shape_mfu_and_step_time_arithmetic():
    sys.path.insert(0, str(GPU))
    import gpu_measure as gm
    import gpu_model

    dims = gpu_model.QWEN2_5_0_5B
    # Qwen2.5-0.5B has 494,032,768 parameters; without biases and norms (no matmul), 493,961,216.
    assert gpu_model.matmul_parameters(dims) == 493_961_216
    m = gm.mfu(10_000.0, 493_961_216, dims, 512, "NVIDIA H200", 1)
    per_token = 4 * 493_961_216 + 12 * 24 * 512 * 896
    assert m["flops_per_token"] == per_token and m["peak_bf16_flops_per_gpu"] == 989e12
    assert abs(m["value"] - 10_000 * per_token / 989e12) < 1e-4
    assert gm.peak_flops("NVIDIA A100-SXM4-40GB")[0] == 312e12 and gm.peak_flops("NVIDIA L4")[0] == 121e12
    assert gm.peak_flops("NVIDIA L40S")[0] == 362e12 and gm.peak_flops("NVIDIA H100 PCIe")[0] == 756e12
    assert gm.mfu(1.0, 1, dims, 1, "Tesla T4", 1)["value"] is None

    watch = gm.StageWatch(None, "r", "sft", "sft-1", Path("/nonexistent"))
    # step 0 -> 1 (start-up, not counted), 1 -> 5 in 2 s, 5 -> 8 across a checkpoint (not counted), 8 -> 12 in 2 s
    watch.points = [(0.0, 0, None), (9.0, 1, None), (11.0, 5, None), (20.0, 8, 8), (22.0, 12, 8)]
    assert watch.step_time_s() == 0.5
