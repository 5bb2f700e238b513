"""SFT through the agent: SIGTERM checkpoints and stops; a resume job continues from there."""
import time
from pathlib import Path

from conftest import wait_for_checkpoint

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"max_steps": 40, "batch_size": 8, "learning_rate": 3e-3, "save_steps": 5, "max_length": 128, "seed": 0,
          "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}, "dtype": "float32",
          "logging_steps": 1}
INPUTS = {"base_model": f"file://{ROOT}/examples/tiny/model", "sft_data": f"file://{ROOT}/examples/tiny/data/sft.jsonl"}


def test_sigterm_then_resume(agent_factory, store):
    agent = agent_factory()
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": PARAMS})
    wait_for_checkpoint(store, "sft", 5)
    t0 = time.monotonic()
    assert agent.stop(timeout=40) == 0
    assert time.monotonic() - t0 < 30
    st = store.get_json("runs/r1/stages/sft/status.json")
    assert st["job_id"] == "sft-1" and st["state"] == "interrupted", st
    stopped_at = st["steps_done"]
    assert 5 <= stopped_at < 40
    assert store.get_json(f"runs/r1/stages/sft/checkpoints/checkpoint-{stopped_at}/COMMITTED.json")

    agent2 = agent_factory()
    agent2.post({"job_id": "sft-2", "stage": "sft", "resume": True, "inputs": INPUTS, "params": PARAMS})
    st2 = agent2.wait_status("sft", "sft-2", timeout=120)
    assert st2["state"] == "succeeded", st2
    assert st2["resumed_from_step"] == stopped_at and st2["steps_done"] == 40
    assert st2["output"]["fingerprint"].startswith("sha256:")
    assert store.exists("runs/r1/stages/sft/output/adapter/adapter_model.safetensors")
    prog = store.get_json("runs/r1/stages/sft/progress.json")
    assert prog["job_id"] == "sft-2" and prog["resumed_from_step"] == stopped_at and prog["step"] == 40

    # Determinism: the same job run without interruption ends with the same adapter, bit for bit
    # (the Trainer restores optimizer, scheduler, RNG states and the data order from the checkpoint).
    straight = agent_factory(run="r2", host="h9")
    straight.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": PARAMS})
    st3 = straight.wait_status("sft", "sft-1", timeout=180)
    assert st3["state"] == "succeeded" and st3["resumed_from_step"] == 0, st3
    assert st3["output"]["fingerprint"] == st2["output"]["fingerprint"], (st3["output"], st2["output"])
