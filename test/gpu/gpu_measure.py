"""What the GPU check measures while a stage runs, and the MFU arithmetic.

- GPU memory: `nvidia-smi --query-gpu=memory.used` every 0.5 s; the peak per
  GPU is what the stage's processes held (CUDA context and the allocator's
  cache included), read from outside because the stage is another process.
- Steps: progress.json polled every 0.05 s; the step time is taken over the
  intervals in which no checkpoint was committed (steady-state training).
- Checkpoints: the time a local `checkpoint-<step>` folder appears under the
  stage's trainer folder, and the time its COMMITTED.json appears in the
  store; save seconds = that span less COMMITTED.json's `upload_seconds`.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

# Dense bf16 tensor-core peak per GPU (no sparsity), from NVIDIA's data sheets; matched in this
# order against torch.cuda.get_device_name (A100 before A10, L40S before L4, H100 NVL/PCIe before H100).
PEAK_BF16_FLOPS = [
    ("H200", 989e12, "H200 SXM data sheet: 989 TFLOPS bf16 dense"),
    ("H100 NVL", 835e12, "H100 NVL data sheet: 835 TFLOPS bf16 dense"),
    ("H100 PCIe", 756e12, "H100 PCIe data sheet: 756 TFLOPS bf16 dense"),
    ("H100", 989e12, "H100 SXM data sheet: 989 TFLOPS bf16 dense"),
    ("B200", 2250e12, "B200 data sheet: 2.25 PFLOPS bf16 dense"),
    ("A100", 312e12, "A100 data sheet: 312 TFLOPS bf16 dense"),
    ("L40S", 362e12, "L40S data sheet: 362 TFLOPS bf16 dense"),
    ("L4", 121e12, "L4 data sheet: 121 TFLOPS bf16 dense"),
    ("A10", 125e12, "A10 data sheet: 125 TFLOPS bf16 dense"),
]
MFU_FORMULA = (
    "flops_per_token = 4 * N + 12 * L * s * d  (LoRA on a frozen base: forward 2N, backward to the "
    "activations 2N, no weight gradients; attention scores and values 4*s*d per layer forward, 3x with "
    "the backward; gradient checkpointing's recomputation and the LoRA matrices (<1%) are not counted, "
    "as MFU counts model FLOPs, not hardware FLOPs). mfu = tokens_per_s * flops_per_token / "
    "(peak_bf16_flops_per_gpu * gpus)"
)


def peak_flops(gpu_name: str) -> tuple[float | None, str]:
    for key, flops, source in PEAK_BF16_FLOPS:
        if key in gpu_name:
            return flops, source
    return None, f"no peak bf16 figure for {gpu_name!r} in gpu_measure.PEAK_BF16_FLOPS: MFU not estimated"


def mfu(tokens_per_s: float, matmul_params: int, dims: dict, seq_len: float, gpu_name: str, gpus: int) -> dict:
    per_token = 4 * matmul_params + 12 * dims["num_hidden_layers"] * seq_len * dims["hidden_size"]
    peak, source = peak_flops(gpu_name)
    return {
        "value": round(tokens_per_s * per_token / (peak * gpus), 4) if peak else None,
        "flops_per_token": round(per_token),
        "peak_bf16_flops_per_gpu": peak,
        "peak_source": source,
        "gpus": gpus,
        "formula": MFU_FORMULA,
    }


class GpuMemory(threading.Thread):
    """memory.used per GPU (MiB) while it runs: the first reading (the baseline: this check's own
    CUDA context, anything else on the GPU) and the peak; the stage's share is their difference."""

    def __init__(self, interval_s: float = 0.5):
        super().__init__(daemon=True)
        self.interval_s, self.peak, self.baseline, self._done = interval_s, {}, {}, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                for line in out.strip().splitlines():
                    i, used = (int(x) for x in line.split(","))
                    self.baseline.setdefault(i, used)
                    self.peak[i] = max(self.peak.get(i, 0), used)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            self._done.wait(self.interval_s)

    def stop(self) -> dict:
        self._done.set()
        self.join(timeout=15)
        gpus = sorted(self.peak)
        return {
            "peak_mib": [self.peak[i] for i in gpus],
            "baseline_mib": [self.baseline[i] for i in gpus],
            "stage_peak_mib": [self.peak[i] - self.baseline[i] for i in gpus],
        }


class StageWatch(threading.Thread):
    """Steps from progress.json and checkpoint save/commit times of one job, while it runs."""

    def __init__(self, store, run: str, stage: str, job_id: str, trainer_dir: Path, interval_s: float = 0.05):
        super().__init__(daemon=True)
        self.store, self.run_id, self.stage, self.job_id = store, run, stage, job_id
        self.trainer_dir, self.interval_s = trainer_dir, interval_s
        self.points: list[tuple[float, int, int | None]] = []  # (time, step, last_checkpoint_step)
        self.appeared: dict[int, float] = {}
        self.committed: dict[int, float] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            now = time.monotonic()
            p = self.store.get_json(f"runs/{self.run_id}/stages/{self.stage}/progress.json")
            if p and p.get("job_id") == self.job_id and (not self.points or p["step"] != self.points[-1][1]):
                self.points.append((now, p["step"], p.get("last_checkpoint_step")))
            if self.trainer_dir.exists():
                for d in self.trainer_dir.glob("checkpoint-*"):
                    self.appeared.setdefault(int(d.name.split("-")[1]), now)
            for step in list(self.appeared):
                if step not in self.committed and self.store.exists(
                    f"runs/{self.run_id}/stages/{self.stage}/checkpoints/checkpoint-{step}/COMMITTED.json"
                ):
                    self.committed[step] = now
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=15)

    def step_time_s(self) -> float | None:
        """Seconds per step over progress intervals with no checkpoint committed, after the first step."""
        steps = seconds = 0.0
        for (t0, s0, c0), (t1, s1, c1) in zip(self.points, self.points[1:]):
            if s0 >= 1 and c0 == c1 and s1 > s0:
                steps, seconds = steps + (s1 - s0), seconds + (t1 - t0)
        return round(seconds / steps, 4) if steps else None

    def checkpoints(self) -> list[dict]:
        out = []
        for step in sorted(self.committed):
            manifest = (
                self.store.get_json(
                    f"runs/{self.run_id}/stages/{self.stage}/checkpoints/checkpoint-{step}/COMMITTED.json"
                )
                or {}
            )
            upload = manifest.get("upload_seconds")
            span = self.committed[step] - self.appeared[step]
            out.append(
                {
                    "step": step,
                    "upload_s": upload,
                    "save_s": round(max(0.0, span - (upload or 0.0)), 3),
                    "bytes": sum(f["size"] for f in manifest.get("files", [])),
                }
            )
        return out


def gpu_facts(torch) -> dict:
    n = torch.cuda.device_count()
    driver = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()
    )
    return {
        "count": n,
        "names": [torch.cuda.get_device_name(i) for i in range(n)],
        "bf16": torch.cuda.is_bf16_supported(),
        "torch_cuda": torch.version.cuda,
        "driver_and_memory_mib": driver,
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
