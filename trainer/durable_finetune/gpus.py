"""Does this host show the GPUs it must have? The evidence and the fix when it does not.

A GPU machine type on which CUDA sees no GPU would otherwise train on the CPU
without a word (gloo instead of NCCL, one rank, hours instead of minutes), so
preflight fails with `gpu_missing` and everything an operator needs to tell
the causes apart: a CPU-only torch, GPUs hidden by CUDA_VISIBLE_DEVICES, no
driver or a container started without `--gpus`, a broken driver, a driver
older than torch's CUDA.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

NVIDIA_SMI_TIMEOUT_S = 20


def nvidia_smi() -> dict:
    """`nvidia-smi -L` as the driver answers it (or that there is none)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"found": False, "exit_code": None, "output": []}
    try:
        r = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"found": True, "exit_code": None, "output": [f"timed out after {NVIDIA_SMI_TIMEOUT_S} s"]}
    lines = (r.stdout + r.stderr).strip().splitlines()
    return {"found": True, "exit_code": r.returncode, "output": lines[-20:]}


def gpu_evidence(torch) -> dict:
    count = torch.cuda.device_count()
    init_error = None
    if count == 0:
        try:
            torch.cuda.init()  # the driver's own reason ("Found no NVIDIA driver", "No CUDA GPUs are available")
        except Exception as e:  # noqa: BLE001 - its message is the evidence
            init_error = f"{type(e).__name__}: {e}"
    removed = [d for d in os.environ.get("FINETUNE_REMOVED_LD_PATHS", "").split(os.pathsep) if d]
    return {
        "device_count": count,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        # The agent drops host NCCL folders from LD_LIBRARY_PATH; where the driver's libcuda
        # lives only there (GKE, COS with the driver mounted in), that hides the driver too.
        "removed_ld_paths_with_libcuda": [d for d in removed if glob.glob(os.path.join(d, "libcuda.so*"))],
        "dev_nvidia": sorted(glob.glob("/dev/nvidia*")),
        "nvidia_smi": nvidia_smi(),
        "cuda_init_error": init_error,
    }


def missing_gpus(expected: int | None, ev: dict) -> str | None:
    """Why this host fails the GPU requirement (evidence, then the fix), or None when it meets it."""
    if expected is None or ev["device_count"] >= expected:
        return None
    smi = ev["nvidia_smi"]
    smi_gpus = sum(1 for line in smi["output"] if line.startswith("GPU ")) if smi["exit_code"] == 0 else 0
    seen = [
        f"torch {ev['torch']} built for CUDA {ev['torch_cuda']}"
        if ev["torch_cuda"]
        else f"torch {ev['torch']} is a CPU-only build",
        f"CUDA_VISIBLE_DEVICES={ev['cuda_visible_devices']!r}"
        if ev["cuda_visible_devices"] is not None
        else "CUDA_VISIBLE_DEVICES unset",
        (
            "nvidia-smi not found on PATH"
            if not smi["found"]
            else f"nvidia-smi -L exit {smi['exit_code']}: {' | '.join(smi['output']) or '(no output)'}"
        ),
        f"/dev/nvidia*: {', '.join(ev['dev_nvidia'])}" if ev["dev_nvidia"] else "no /dev/nvidia* device files",
    ]
    if ev["cuda_init_error"]:
        seen.append(f"torch.cuda.init(): {ev['cuda_init_error']}")
    hidden = ev.get("removed_ld_paths_with_libcuda") or []
    if hidden:
        seen.append(f"libcuda is in {', '.join(hidden)}, which the agent removed from LD_LIBRARY_PATH (host NCCL)")
    fixes = []
    if hidden:
        fixes.append(
            "make the driver's libraries reachable without LD_LIBRARY_PATH (ldconfig, or docker --gpus "
            "all with the NVIDIA container toolkit), or set FINETUNE_KEEP_HOST_NCCL=1 on the host"
        )
    if not ev["torch_cuda"]:
        fixes.append("install a CUDA build of torch (trainer/requirements.txt, the trainer image)")
    if ev["cuda_visible_devices"] is not None and ev["cuda_visible_devices"].strip() in ("", "-1", "none"):
        fixes.append("unset CUDA_VISIBLE_DEVICES, which hides every GPU")
    if not ev["dev_nvidia"]:
        fixes.append(
            "install the NVIDIA driver or use a GPU image that has it (on GCE: a Deep Learning VM image, or "
            "Container-Optimized OS with `cos-extensions install gpu`), and start the container with "
            "`docker run --gpus all`"
        )
    elif smi["found"] and smi["exit_code"] != 0:
        fixes.append("the NVIDIA driver is installed but broken (nvidia-smi fails): reinstall it or reboot the host")
    elif smi_gpus > ev["device_count"] and ev["torch_cuda"]:
        fixes.append(
            f"the driver sees {smi_gpus} GPU(s) but torch does not: the driver is older than torch's "
            f"CUDA {ev['torch_cuda']}; install a newer NVIDIA driver"
        )
    fixes.append("or set preflight.gpus to the GPUs this host really has (0: train on the CPU on purpose)")
    return f"expected {expected} GPU(s), CUDA sees {ev['device_count']}: {'; '.join(seen)}. Fix: {'; '.join(fixes)}"
