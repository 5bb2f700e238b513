"""Preflight stage: prove this host can train before any paid hour is spent.

The GPUs CUDA must see (params.expected_gpus, resolved from preflight.gpus;
fewer fails with `gpu_missing` and the driver evidence, before anything else
runs, so no GPU host trains on the CPU unnoticed), bf16 support when
params.dtype asks for it, a matmul on each device, an all-reduce across
params.ranks processes (at most one per GPU) started by torchrun (nccl on
GPU, gloo on CPU) that must finish
within params.timeout_s and give the right sum, which libnccl the ranks
actually loaded vs torch's own NCCL version (a host NCCL shadowing torch's is
the classic silent crash), the sanitised environment the agent gave the
stage, free disk vs params.min_free_disk_gb, and a store write/read round trip.
Writes output/report.json; a broken all-reduce fails with `distributed`.
progress.json counts the checks done (step of total_steps), and is refreshed
while the all-reduce runs, so a slow preflight is never called hung.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ..faults import debug_param
from ..gpus import gpu_evidence, missing_gpus
from ..lifeline import die_with_parent
from ..params import PreflightParams
from ..progress import Progress
from ..runtime import StageContext, StageFailure, device_and_dtype
from ..stage_main import run_stage

# torchrun and each rank's `import torch` before the timeout starts counting.
STARTUP_GRACE_S = 30.0
# gpus, dtype, matmul, all-reduce, disk, store: the steps of preflight's progress.json.
CHECKS = 6
# How often progress.json is refreshed while the all-reduce runs.
TICK_S = 5.0


def all_reduce_check(
    ranks: int, backend: str, timeout_s: float, workdir: Path, hang_rank: int = -1, tick=lambda: None
) -> dict:
    """All-reduce across `ranks` processes started by torchrun; each must finish within timeout_s
    (plus a grace for process start and imports), else the whole group is killed. `tick` is
    called every TICK_S while it runs: the wait is bounded by the timeout, so a heartbeat from
    it cannot hide a hang."""
    out = Path(tempfile.mkdtemp(prefix="allreduce-", dir=workdir))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={ranks}",
        "--max-restarts=0",
        "-m",
        "durable_finetune.collective",
        "--backend",
        backend,
        "--timeout-s",
        str(timeout_s),
        "--out",
        str(out),
        "--hang-rank",
        str(hang_rank),
    ]
    print("preflight: " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    # In the host's process group like the stage (killing the host kills the ranks), and
    # torchrun dies with this stage.
    proc = subprocess.Popen(cmd, preexec_fn=die_with_parent(os.getpid()))
    deadline = t0 + timeout_s + STARTUP_GRACE_S
    rc, timed_out = None, False
    while rc is None:
        try:
            rc = proc.wait(timeout=max(0.0, min(TICK_S, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                rc, timed_out = stop_tree(proc), True
            else:
                tick()
    results = {}
    for r in range(ranks):
        f = out / f"rank{r}.json"
        if f.exists():
            results[r] = json.loads(f.read_text())
    expected = float(ranks * (ranks + 1) // 2)
    errors = {r: v.get("error") for r, v in results.items() if v.get("state") != "ok"}
    wrong = {r: v.get("value") for r, v in results.items() if v.get("state") == "ok" and v.get("value") != expected}
    missing = sorted(set(range(ranks)) - set(results))
    return {
        "backend": backend,
        "ranks": ranks,
        "launcher": "torchrun",
        "expected_sum": expected,
        "seconds": round(time.monotonic() - t0, 3),
        "timeout_s": timeout_s,
        "timed_out": timed_out,
        "exit_code": rc,
        "ok": rc == 0 and not errors and not wrong and not missing,
        "errors": errors,
        "wrong": wrong,
        "missing_ranks": missing,
        "loaded_nccl": sorted({lib for v in results.values() for lib in v.get("loaded_nccl", [])}),
    }


def stop_tree(proc: subprocess.Popen) -> int:
    """SIGTERM torchrun (it stops its ranks), then SIGKILL whatever of it is left."""
    ranks = descendants(proc.pid)
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *ranks]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return proc.wait()


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def matmul(torch, device: str) -> dict:
    a = torch.randn(256, 256, device=device)
    t0 = time.monotonic()
    b = (a @ a.T).sum().item()
    return {"device": device, "ok": b == b, "seconds": round(time.monotonic() - t0, 4)}


def nccl_shadowed(loaded: list[str]) -> list[str]:
    """Loaded libnccl files that are not the one torch ships (its pip wheel, or torch/lib)."""
    return [lib for lib in loaded if "site-packages" not in lib and "dist-packages" not in lib]


def main(ctx: StageContext, p: PreflightParams) -> None:
    import torch

    ranks, timeout_s, expected = p.ranks, float(p.timeout_s), p.expected_gpus
    progress = Progress(ctx.store, ctx.key("progress.json"), ctx.job_id, ctx.stage, CHECKS)
    progress.write(force=True)
    report: dict = {"python": sys.version.split()[0], "torch": torch.__version__}
    report_key = ctx.key("output/report.json")

    evidence = gpu_evidence(torch)
    report["gpus"] = {"asked": p.gpus, "expected": expected, **evidence}
    why = missing_gpus(expected, evidence)
    if why:
        ctx.store.put_json(report_key, report)
        print(f"preflight: GPUs missing: {why}", file=sys.stderr, flush=True)
        raise StageFailure("gpu_missing", why, metrics={"gpus": report["gpus"]})
    progress.update(step=1, metrics={"devices": evidence["device_count"]})

    _, dtype = device_and_dtype(p.dtype)  # bf16 asked for on a GPU without it fails here, before training
    report["dtype"] = {"asked": p.dtype, "used": str(dtype).removeprefix("torch.")}
    progress.update(step=2)

    cuda = torch.cuda.is_available()
    report["devices"] = {
        "cuda": cuda,
        "count": torch.cuda.device_count() if cuda else 0,
        "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu_count": os.cpu_count(),
    }
    report["matmul"] = [
        matmul(torch, d) for d in ([f"cuda:{i}" for i in range(torch.cuda.device_count())] if cuda else ["cpu"])
    ]
    progress.update(step=3)

    asked = ranks
    if cuda and ranks > torch.cuda.device_count():
        # NCCL needs a GPU per rank; gloo instead would leave the GPUs' own collective untested.
        ranks = torch.cuda.device_count()
        print(
            f"preflight: ranks {asked} > the {ranks} GPU(s) here: the NCCL all-reduce runs {ranks} rank(s), "
            f"one per GPU",
            file=sys.stderr,
            flush=True,
        )
    backend = "nccl" if cuda else "gloo"
    hang_rank = debug_param(ctx.params, "debug_hang_rank")
    report["all_reduce"] = all_reduce_check(
        ranks,
        backend,
        timeout_s,
        ctx.local_dir,
        -1 if hang_rank is None else int(hang_rank),
        tick=lambda: progress.write(force=True),
    )
    report["all_reduce"]["ranks_asked"] = asked
    progress.update(step=4, metrics={"all_reduce_s": report["all_reduce"]["seconds"]})
    loaded = report["all_reduce"]["loaded_nccl"]
    report["nccl"] = {
        "torch_nccl_version": ".".join(map(str, torch.cuda.nccl.version())) if cuda else None,
        "loaded_libs": loaded,
        "shadowing_libs": nccl_shadowed(loaded),
    }
    report["env"] = {
        k: os.environ.get(k)
        for k in (
            "LD_LIBRARY_PATH",
            "NCCL_NET_PLUGIN",
            "NCCL_TUNER_PLUGIN",
            "TORCH_NCCL_ASYNC_ERROR_HANDLING",
            "NCCL_DEBUG",
            "PYTHONFAULTHANDLER",
            "FINETUNE_REMOVED_LD_PATHS",
        )
    }

    usage = shutil.disk_usage(ctx.workdir)
    free_gb = usage.free / 1e9
    report["disk"] = {"path": str(ctx.workdir), "free_gb": round(free_gb, 2), "min_free_disk_gb": p.min_free_disk_gb}
    progress.update(step=5)

    probe_key = ctx.key(f"probe/{uuid.uuid4().hex}.json")
    token = {"t": time.time(), "host": socket.gethostname()}
    ctx.store.put_json(probe_key, token)
    back = ctx.store.get_json(probe_key)
    ctx.store.delete_prefix(probe_key)
    report["store"] = {"uri": ctx.store.uri, "ok": back == token}
    progress.update(step=6)

    ctx.store.put_json(report_key, report)
    ar = report["all_reduce"]
    if not ar["ok"]:
        why = (
            f"timed out after {ar['seconds']:.0f} s (timeout_s {timeout_s})"
            if ar["timed_out"]
            else f"exit code {ar['exit_code']}"
        )
        raise StageFailure(
            "distributed",
            f"all-reduce across {ranks} ranks ({backend}, torchrun) failed: {why}; "
            f"errors {ar['errors']}, missing ranks {ar['missing_ranks']}, "
            f"libnccl loaded {loaded or 'none'}",
        )
    if free_gb < p.min_free_disk_gb:
        raise StageFailure("disk_full", f"free disk {free_gb:.1f} GB < min_free_disk_gb {p.min_free_disk_gb}")
    if not report["store"]["ok"] or not all(m["ok"] for m in report["matmul"]):
        raise StageFailure("error", "store round trip or matmul check failed")
    ctx.write_status(
        "succeeded",
        output={"key": report_key, "fingerprint": None},
        metrics={
            "all_reduce_s": report["all_reduce"]["seconds"],
            "free_disk_gb": round(free_gb, 2),
            "devices": report["devices"]["count"],
            "backend": backend,
        },
    )


if __name__ == "__main__":
    run_stage(main)
