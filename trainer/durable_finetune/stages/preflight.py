"""Preflight stage: prove this host can train before any paid hour is spent.

Devices visible, a matmul, an all-reduce across params.ranks processes (nccl
on GPU, gloo on CPU) that must finish within params.timeout_s and give the
right sum, which libnccl the process actually loaded vs torch's own NCCL
version (a host NCCL shadowing torch's is the classic silent crash), free
disk vs params.min_free_disk_gb, and a store write/read round trip.
Writes output/report.json; a broken all-reduce fails with `distributed`.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import sys
import time
import uuid

from .common import StageContext, StageFailure, run_stage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, backend: str, timeout_s: float, q) -> None:
    import datetime

    import torch
    import torch.distributed as dist

    try:
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
        device = f"cuda:{torch.cuda.current_device()}" if backend == "nccl" else "cpu"
        t = torch.full((4,), float(rank + 1), device=device)
        dist.all_reduce(t)
        if backend == "nccl":
            torch.cuda.synchronize()
        q.put((rank, "ok", t.cpu().tolist()))
        dist.destroy_process_group()
    except Exception as e:  # noqa: BLE001 - reported to the parent, which classifies it
        q.put((rank, "error", f"{type(e).__name__}: {e}"))


def all_reduce_check(ranks: int, backend: str, timeout_s: float) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank, args=(r, ranks, port, backend, timeout_s, q)) for r in range(ranks)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results: dict[int, tuple] = {}
    deadline = t0 + timeout_s + 30  # + process start and imports
    while len(results) < ranks and time.monotonic() < deadline:
        try:
            rank, state, value = q.get(timeout=0.5)
            results[rank] = (state, value)
        except Exception:  # noqa: BLE001 - queue.Empty
            if all(not p.is_alive() for p in procs) and q.empty():
                break
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    expected = float(ranks * (ranks + 1) // 2)
    errors = {r: v for r, (s, v) in results.items() if s != "ok"}
    wrong = {r: v for r, (s, v) in results.items() if s == "ok" and any(abs(x - expected) > 1e-6 for x in v)}
    missing = sorted(set(range(ranks)) - set(results))
    return {"backend": backend, "ranks": ranks, "expected_sum": expected, "seconds": round(time.monotonic() - t0, 3),
            "ok": not errors and not wrong and not missing, "errors": errors, "wrong": wrong, "missing_ranks": missing,
            "exit_codes": [p.exitcode for p in procs]}


def loaded_nccl() -> list[str]:
    """Paths of libnccl mapped into this process (after CUDA init)."""
    try:
        with open(f"/proc/{os.getpid()}/maps") as f:
            return sorted({line.split()[-1] for line in f if "libnccl" in line})
    except OSError:
        return []


def main(ctx: StageContext) -> None:
    import torch

    p = ctx.params
    ranks = int(p.get("ranks", 1))
    timeout_s = float(p.get("timeout_s", 60))
    report: dict = {"python": sys.version.split()[0], "torch": torch.__version__}

    cuda = torch.cuda.is_available()
    report["devices"] = {"cuda": cuda, "count": torch.cuda.device_count() if cuda else 0,
                         "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
                         "cpu_count": os.cpu_count()}
    device = "cuda" if cuda else "cpu"
    a = torch.randn(256, 256, device=device)
    t0 = time.monotonic()
    b = (a @ a.T).sum().item()
    report["matmul"] = {"device": device, "ok": b == b, "seconds": round(time.monotonic() - t0, 4)}

    if cuda:
        report["nccl"] = {"torch_nccl_version": ".".join(map(str, torch.cuda.nccl.version())),
                          "loaded_libs": loaded_nccl(), "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH", "")}
    backend = "nccl" if cuda and torch.cuda.device_count() >= ranks else "gloo"
    report["all_reduce"] = all_reduce_check(ranks, backend, timeout_s)

    usage = shutil.disk_usage(ctx.workdir)
    free_gb = usage.free / 1e9
    report["disk"] = {"path": str(ctx.workdir), "free_gb": round(free_gb, 2), "min_free_disk_gb": p.get("min_free_disk_gb", 0)}

    probe_key = ctx.key(f"probe/{uuid.uuid4().hex}.json")
    token = {"t": time.time(), "host": socket.gethostname()}
    ctx.store.put_json(probe_key, token)
    back = ctx.store.get_json(probe_key)
    ctx.store.delete_prefix(probe_key)
    report["store"] = {"uri": ctx.store.uri, "ok": back == token}

    report_key = ctx.key("output/report.json")
    ctx.store.put_json(report_key, report)
    if not report["all_reduce"]["ok"]:
        raise StageFailure("distributed", f"all-reduce across {ranks} ranks ({backend}) failed: "
                                          f"{report['all_reduce']}")
    if free_gb < float(p.get("min_free_disk_gb", 0)):
        raise StageFailure("disk_full", f"free disk {free_gb:.1f} GB < min_free_disk_gb {p['min_free_disk_gb']}")
    if not report["store"]["ok"] or not report["matmul"]["ok"]:
        raise StageFailure("error", "store round trip or matmul check failed")
    ctx.write_status("succeeded", output={"key": report_key, "fingerprint": None},
                     metrics={"all_reduce_s": report["all_reduce"]["seconds"], "free_disk_gb": round(free_gb, 2),
                              "devices": report["devices"]["count"], "backend": backend})


if __name__ == "__main__":
    run_stage(main)
