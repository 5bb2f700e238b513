"""An SFT-merged tiny model made by the real sft and merge stages through the real agent.

Built once per machine and kept in ~/.cache/durable-finetune/tiny-sft-merged/<key>, keyed by
the trainer's source, the example data and the params, so only the first run pays
for the training (about 2 minutes on two idle cores). `install` puts it into a
test's store as the merge stage left it: output/model and status.json with the
fingerprint and the probe logits.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

from stage_params import job_params

TRAINER = Path(__file__).resolve().parents[1]
ROOT = TRAINER.parent
BASE = ROOT / "examples/tiny/model"
DATA = ROOT / "examples/tiny/data"
SFT = job_params(
    "sft",
    max_steps=100,
    batch_size=32,
    learning_rate=3e-3,
    save_steps=100,
    max_length=128,
    seed=0,
    lora={"r": 32, "alpha": 64},
    logging_steps=10,
    warmup_steps=10,
    lr_scheduler="constant_with_warmup",
)
MERGE = job_params("merge")
MERGE_KEY = "runs/r1/stages/merge/output/model"


def cache_key() -> str:
    h = hashlib.sha256(json.dumps([SFT, MERGE]).encode())
    for folder in (TRAINER / "durable_finetune", DATA, BASE):
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".jsonl", ".json", ".safetensors"):
                h.update(p.relative_to(ROOT).as_posix().encode() + p.read_bytes())
    return h.hexdigest()[:16]


def build(cache_dir: Path, store, agent) -> Path:
    """Run sft then merge on `agent` (whose store is `store`); copy the outputs to cache_dir."""
    store.upload_dir(BASE, "runs/r1/inputs/base-model")
    store.put_file("runs/r1/data/sft.jsonl", DATA / "sft.jsonl")
    agent.post(
        {
            "job_id": "sft-1",
            "stage": "sft",
            "params": SFT,
            "inputs": {"base_model": "runs/r1/inputs/base-model", "sft_data": "runs/r1/data/sft.jsonl"},
        }
    )
    sft = agent.wait_status("sft", "sft-1", timeout=1200)
    assert sft["state"] == "succeeded", sft
    agent.post(
        {
            "job_id": "merge-1",
            "stage": "merge",
            "params": MERGE,
            "inputs": {
                "base_model": "runs/r1/inputs/base-model",
                "adapter": sft["output"]["key"],
                "adapter_fingerprint": sft["output"]["fingerprint"],
            },
        }
    )
    merge = agent.wait_status("merge", "merge-1", timeout=300)
    assert merge["state"] == "succeeded", merge
    # A temp folder of this process's own: two test sessions may build the same key at once,
    # and the one that renames second keeps the first one's copy.
    tmp = cache_dir.with_name(f"{cache_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    store.download_dir(MERGE_KEY, tmp / "model")
    (tmp / "status.json").write_text(json.dumps(merge))
    try:
        tmp.rename(cache_dir)
    except OSError:
        if not (cache_dir / "status.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return cache_dir


def install(cache_dir: Path, store) -> dict:
    """Put the cached merge output and its status into store (run r1); returns the status."""
    status = json.loads((cache_dir / "status.json").read_text())
    store.upload_dir(cache_dir / "model", MERGE_KEY)
    store.put_json("runs/r1/stages/merge/status.json", status)
    store.upload_dir(BASE, "runs/r1/inputs/base-model")
    for name in ("preferences", "eval"):
        store.put_file(f"runs/r1/data/{name}.jsonl", DATA / f"{name}.jsonl")
    return status
