"""One rank of the preflight all-reduce; torchrun starts `ranks` of these.

    python -m torch.distributed.run --standalone --nproc-per-node N \\
        -m durable_finetune.collective --backend nccl|gloo --timeout-s T --out DIR

Each rank joins the process group (short timeout), all-reduces rank+1 and
writes DIR/rank<r>.json: the result, its device, and the libnccl files this
process actually mapped (/proc/self/maps, read after NCCL initialised) next
to the NCCL version torch was built with. A rank that cannot reach the others
fails within the timeout instead of hanging the host.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path


def loaded_nccl() -> list[str]:
    """Paths of the libnccl files mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "libnccl" in line})
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("nccl", "gloo"), required=True)
    ap.add_argument("--timeout-s", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hang-rank", type=int, default=-1, help="test only: this rank never joins the all-reduce")
    a = ap.parse_args(argv)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    out = Path(a.out) / f"rank{rank}.json"
    result: dict = {"rank": rank, "world_size": world, "backend": a.backend, "pid": os.getpid()}
    t0 = time.monotonic()
    try:
        import torch
        import torch.distributed as dist

        if a.backend == "nccl":
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
            device = torch.device("cuda", torch.cuda.current_device())
            result["device_name"] = torch.cuda.get_device_name(device)
            result["torch_nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
        else:
            device = torch.device("cpu")
        result["device"] = str(device)
        kwargs = {"device_id": device} if a.backend == "nccl" else {}
        dist.init_process_group(a.backend, timeout=datetime.timedelta(seconds=a.timeout_s), **kwargs)
        if rank == a.hang_rank:
            print(f"rank {rank}: hanging on purpose (--hang-rank)", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
        t = torch.full((1024,), float(rank + 1), device=device)
        dist.all_reduce(t)
        if a.backend == "nccl":
            torch.cuda.synchronize()
        result.update(
            state="ok", value=float(t[0].item()), loaded_nccl=loaded_nccl(), seconds=round(time.monotonic() - t0, 3)
        )
        out.write_text(json.dumps(result))
        dist.destroy_process_group()
        return 0
    except Exception as e:  # noqa: BLE001 - the parent reads the error from the file
        result.update(
            state="error",
            error=f"{type(e).__name__}: {e}"[:2000],
            loaded_nccl=loaded_nccl(),
            seconds=round(time.monotonic() - t0, 3),
        )
        out.write_text(json.dumps(result))
        print(f"rank {rank}: {result['error']}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
