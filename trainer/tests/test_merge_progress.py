"""The merge stage reports progress while it runs (loaded, each LoRA module merged, checked, saved,
uploaded), so a merge longer than monitor.hang_timeout_s is not called hung. Runs the real stage
in this process on the tiny model with a fresh adapter, recording every progress.json it writes."""

import copy
from pathlib import Path

from stage_params import job_params

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "tiny" / "model"


def test_merge_progress_moves_from_loading_to_upload(tmp_path, store, monkeypatch):
    from durable_finetune.fingerprint import fingerprint_dir
    from durable_finetune.params import stage_params
    from durable_finetune.runtime import StageContext
    from durable_finetune.stages import merge
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(BASE),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False),
    )
    modules = len(merge.lora_layers(model))
    model.save_pretrained(tmp_path / "adapter")
    writes = []
    put_json = store.put_json

    def recording(key, obj, create_only=False):
        if key.endswith("/progress.json"):
            writes.append(copy.deepcopy(obj))
        put_json(key, obj, create_only=create_only)

    monkeypatch.setattr(store, "put_json", recording)
    job = {
        "job_id": "merge-1",
        "stage": "merge",
        "run_id": "r1",
        "params": job_params("merge"),
        "inputs": {
            "base_model": str(BASE),
            "adapter": str(tmp_path / "adapter"),
            "adapter_fingerprint": fingerprint_dir(tmp_path / "adapter"),
        },
    }
    merge.main(StageContext(job, store, tmp_path / "work"), stage_params("merge", job["params"]))

    assert store.get_json("runs/r1/stages/merge/status.json")["state"] == "succeeded"
    steps = [w["step"] for w in writes]
    total = modules + merge.PHASES
    assert modules > 0 and writes[0]["step"] == 0, "written as soon as the stage starts"
    assert steps == sorted(steps) and steps[-1] == total, steps
    assert {1, 2, modules + 3, modules + 4, total} <= set(steps), steps
    assert all(w["total_steps"] == total for w in writes[1:]) and all(w["job_id"] == "merge-1" for w in writes)
    assert len({w["updated_at"] for w in writes}) >= 3
