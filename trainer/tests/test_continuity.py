"""Every stage checks what it starts from (through the real agent, on the tiny model).

- DPO wired to the base model instead of the merged one: `continuity` before any step;
- DPO whose policy in memory is not the merged model (a fresh init under the right
  files): `continuity` from the step-0 probe logits, before any step;
- an adapter loaded frozen for training: `no_op_training` before the first step.
"""

from pathlib import Path

from stage_params import job_params

ROOT = Path(__file__).resolve().parents[2]
FAULTS = {"FINETUNE_ALLOW_FAULT_INJECTION": "1"}
TRAIN = dict(
    max_steps=5,
    batch_size=8,
    learning_rate=1e-3,
    save_steps=5,
    max_length=128,
    seed=0,
    lora={"r": 8, "alpha": 16},
    logging_steps=1,
)
DPO = job_params("dpo", **TRAIN, beta=0.1, sft_loss_weight=0.0, probe_every=0)
TRAIN = job_params("sft", **TRAIN)


def dpo_inputs(merged, model_key):
    return {
        "model": model_key,
        "model_fingerprint": merged["output"]["fingerprint"],
        "preference_data": "runs/r1/data/preferences.jsonl",
    }


def assert_no_step(store, stage, job_id):
    prog = store.get_json(f"runs/r1/stages/{stage}/progress.json")
    assert prog is None or prog["job_id"] != job_id or prog["step"] == 0, prog


def test_dpo_wired_to_the_base_model_is_refused_before_any_step(agent_factory, store, merged):
    agent = agent_factory()
    agent.post(
        {"job_id": "dpo-1", "stage": "dpo", "params": DPO, "inputs": dpo_inputs(merged, "runs/r1/inputs/base-model")}
    )
    st = agent.wait_status("dpo", "dpo-1", timeout=120)
    assert st["state"] == "failed" and st["failure_class"] == "continuity", st
    assert merged["output"]["fingerprint"] in st["message"]  # both fingerprints: expected and found
    assert st["message"].count("sha256:") == 2
    assert_no_step(store, "dpo", "dpo-1")


def test_a_dpo_policy_that_is_not_the_merged_model_is_refused_by_its_probe_logits(agent_factory, store, merged):
    agent = agent_factory(env=FAULTS)
    agent.post(
        {
            "job_id": "dpo-1",
            "stage": "dpo",
            "params": {**DPO, "debug_reinit_policy": True},
            "inputs": dpo_inputs(merged, merged["output"]["key"]),
        }
    )
    st = agent.wait_status("dpo", "dpo-1", timeout=180)
    assert st["state"] == "failed" and st["failure_class"] == "continuity", st
    assert "DPO policy at step 0 is not the model" in st["message"], st["message"]
    assert_no_step(store, "dpo", "dpo-1")


def test_an_adapter_loaded_frozen_is_no_op_training_before_the_first_step(agent_factory, store):
    agent = agent_factory(env=FAULTS)
    agent.post(
        {
            "job_id": "sft-1",
            "stage": "sft",
            "params": {**TRAIN, "debug_freeze_adapter": True},
            "inputs": {
                "base_model": f"file://{ROOT}/examples/tiny/model",
                "sft_data": f"file://{ROOT}/examples/tiny/data/sft.jsonl",
            },
        }
    )
    st = agent.wait_status("sft", "sft-1", timeout=180)
    assert st["state"] == "failed" and st["failure_class"] == "no_op_training", st
    assert "is_trainable=True" in st["message"]
    assert_no_step(store, "sft", "sft-1")
