"""The stage runtime: what a stage's body runs against (its job, inputs, status, failures).

A stage process reads its job from a local JSON file (the agent's copy of
hosts/<host>/job.json), resolves inputs to local paths, and writes
stages/<stage>/status.json for that job_id when it ends, whether it succeeded,
failed with a known class, or was interrupted by SIGTERM. stage_main.run_stage
is the process around it (arguments, the status of any failure, the ranks).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .checkpoint import COMMITTED, download_checkpoint
from .contract import StageOutput, State, StatusFile
from .ranks import Rank
from .runs import STAGES, run_id_problem, stage_key
from .store import Store, StoreKeyInvalid, check_key, file_uri_path, open_store
from .timeutil import now_iso


class StageFailure(Exception):
    """A failure whose class we know (bad_data, continuity, no_op_training, ...);
    `metrics` (the evidence, e.g. a metric history) go into status.json."""

    def __init__(self, failure_class: str, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.failure_class = failure_class
        self.metrics = metrics or {}


class StageContext:
    def __init__(self, job: dict, store: Store, workdir: Path, rank: Rank | None = None):
        self.job = job
        self.rank = rank or Rank()
        self.store = store
        self.workdir = workdir
        self.job_id: str = job["job_id"]
        self.stage: str = job["stage"]
        self.run_id: str = job["run_id"]
        self.params: dict = job.get("params") or {}
        self.inputs: dict = job.get("inputs") or {}
        self.resume: bool = bool(job.get("resume"))
        self.started_at = now_iso()
        self.t0 = time.monotonic()

    # Store keys of this stage.
    @property
    def stage_prefix(self) -> str:
        return stage_key(self.run_id, self.stage, "").rstrip("/")

    def key(self, rel: str) -> str:
        """A key of this stage; the run id and stage of job.json are checked again here (runs.py)."""
        return stage_key(self.run_id, self.stage, rel)

    @property
    def local_dir(self) -> Path:
        d = self.workdir / "stages" / self.stage / self.job_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def input_path(self, name: str) -> str:
        """Resolve inputs[name] to a local path."""
        value = self.inputs.get(name)
        if not value:
            raise StageFailure("bad_data", f"job input {name!r} is missing")
        return resolve_input(value, self.store, self.workdir / "cache")

    def write_status(
        self,
        state: State,
        *,
        failure_class: str | None = None,
        message: str = "",
        exit_code: int | None = 0,
        output: StageOutput | None = None,
        metrics: dict | None = None,
        steps_done: int | None = None,
        resumed_from_step: int | None = 0,
        log_tail: list[str] | None = None,
    ) -> StatusFile:
        """Rank 0 writes the status (a single-process stage is rank 0); other ranks' outcome is
        rank 0's, or, when they fail, reaches the launcher through ranks.record_failure."""
        status: StatusFile = {
            "job_id": self.job_id,
            "stage": self.stage,
            "state": state,
            "failure_class": failure_class if state == "failed" else None,
            "message": message,
            "exit_code": exit_code,
            "signal": None,
            "log_tail": log_tail or [],
            "output": output,
            "metrics": metrics or {},
            "steps_done": steps_done,
            "resumed_from_step": resumed_from_step,
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "duration_s": round(time.monotonic() - self.t0, 3),
        }
        if self.rank.is_zero:
            self.store.put_json(self.key("status.json"), status)
        return status


def recorded_probe(ctx: StageContext, name: str, fingerprint: str) -> dict | None:
    """The probe summary recorded by the stage that produced inputs[name] (its status.json
    `output.probe`), when that status is for exactly this output and fingerprint; else None."""
    value = (ctx.inputs.get(name) or "").rstrip("/")
    parts = value.split("/")
    if (
        len(parts) < 5
        or parts[0] != "runs"
        or parts[2] != "stages"
        or parts[4] != "output"
        or run_id_problem(parts[1])
        or parts[3] not in STAGES
    ):
        return None
    status = ctx.store.get_json(stage_key(parts[1], parts[3], "status.json")) or {}
    out = status.get("output") or {}
    if (
        status.get("state") != "succeeded"
        or (out.get("key") or "").rstrip("/") != value
        or out.get("fingerprint") != fingerprint
    ):
        return None
    return out.get("probe")


def resolve_input(value: str, store: Store, cache_dir: Path) -> str:
    """A store key (runs/..., hub/...) is downloaded to cache_dir; file:// and plain paths are
    used in place; gs:// is downloaded. Hosts never load from the Hugging Face Hub: the worker
    fetched an hf: model into the store's hub/ prefix, and the job names that key."""
    if value.startswith("hf:"):
        raise StageFailure(
            "bad_data",
            f"input {value!r} is a Hub reference; hosts load models only from the "
            f"store (the worker fetches hf: models into hub/models/...): "
            f"start the run with this version of the control plane",
        )
    if value.startswith("hub/"):
        return _download_hub_model(store, value, cache_dir / "store")
    if value.startswith("file:"):
        return file_uri_path(value)  # percent-decoded as the control plane reads it
    if value.startswith("gs://"):
        bucket, _, key = value[len("gs://") :].partition("/")
        try:
            check_key(key)  # gs://bucket//abs would otherwise be downloaded to /abs
        except StoreKeyInvalid as e:
            raise StageFailure("bad_data", f"input {value!r}: {e}") from None
        return _download(open_store(f"gs://{bucket}"), key, cache_dir / "gs" / bucket)
    if value.startswith("runs/"):
        return _download(store, value, cache_dir / "store")
    return value  # a local path


def _download(store: Store, key: str, root: Path) -> str:
    key = key.rstrip("/")
    dest = root / key
    if store.exists(key):  # a single file, e.g. data/sft.jsonl
        if not dest.exists():
            store.get_file(key, dest)
        return str(dest)
    # A folder: download it whole, into a fresh place (a previous partial copy is discarded).
    done = dest / ".downloaded"
    if not done.exists():
        if not store.list(key + "/"):
            raise StageFailure("bad_data", f"input {key!r} is not in the store")
        store.download_dir(key, dest)
        done.write_text(now_iso())
    return str(dest)


def _download_hub_model(store: Store, key: str, root: Path) -> str:
    """A Hub model the worker fetched (hub/models/<org>/<name>/<commit>/). It exists only with
    its COMMITTED.json; a host downloads the files it lists once and checks size and sha256."""
    key = key.rstrip("/")
    dest = root / key
    done = dest / ".downloaded"
    if not done.exists():
        if not isinstance((store.get_json(f"{key}/{COMMITTED}") or {}).get("files"), list):
            raise StageFailure(
                "bad_data",
                f"base model {key!r} has no COMMITTED.json in the store: the worker's "
                f"fetch never finished; start the run again so it fetches the model",
            )
        download_checkpoint(store, key, dest)
        done.write_text(now_iso())
    return str(dest)


def read_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:  # what the control plane checked (src/data/jsonl.ts), whatever the locale
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise StageFailure("bad_data", f"{path}:{n}: {e}") from None
    if not rows:
        raise StageFailure("bad_data", f"{path} has no rows")
    return rows


def device_and_dtype(want: str):
    """cuda when present; bf16 only on cuda and only when `want` (params.dtype) asks for it."""
    import torch

    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    gpu = torch.cuda.get_device_name(0) if cuda else None
    dtype = torch.bfloat16 if choose_dtype(want, cuda, bf16_ok, gpu) == "bfloat16" else torch.float32
    return ("cuda" if cuda else "cpu"), dtype


def choose_dtype(want: str, cuda: bool, bf16_ok: bool, gpu: str | None) -> str:
    """The dtype a stage computes in: bfloat16 where model.dtype asks for it and the GPU has it.

    On the CPU, float32 (bf16 matmuls there are slow and this is the test and demo path), said
    in the log. On a GPU without bf16 (before compute capability 8.0: T4, V100) the stage fails:
    falling back to float32 would double the memory of the run it was sized for and change its
    numbers unnoticed, and float16 needs loss scaling this trainer does not do."""
    want = want.lower()
    if want not in ("bfloat16", "bf16"):
        return "float32"
    if not cuda:
        print("model.dtype bfloat16 on a host without CUDA: computing in float32", file=sys.stderr, flush=True)
        return "float32"
    if not bf16_ok:
        raise StageFailure(
            "bf16_unsupported",
            f"model.dtype is bfloat16 but the GPU {gpu} has no bfloat16 support "
            f"(torch.cuda.is_bf16_supported() is False). Fix: set model.dtype: "
            f"float32, or use a GPU with bfloat16 (compute capability 8.0 or "
            f"newer: A100, L4, H100)",
        )
    return "bfloat16"


def set_seed(seed: int) -> None:
    from transformers import set_seed as hf_set_seed

    hf_set_seed(seed)
