"""The DPO collapse guard on the real tiny model, through the real agent.

An aggressive DPO (high learning rate, low beta) collapses the SFT-merged model
for real: the task probe (strict tool-call match on the eval prompts) falls to
nothing within a few steps and the guard stops it with `dpo_collapsed` and the
metric history. The retry the workflow would post next (workflows/dpo.ts: beta
x2, learning rate /4, again from the merged SFT model) completes, and its task
metric stays within probe_margin of the SFT model's.
"""
LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
BASE = {"max_steps": 15, "batch_size": 16, "save_steps": 15, "max_length": 128, "seed": 0, "lora": LORA,
        "dtype": "float32", "logging_steps": 1, "sft_loss_weight": 0.0,
        "probe_every": 5, "probe_items": 48, "probe_margin": 0.15}
AGGRESSIVE = {"learning_rate": 5e-3, "beta": 0.05}


def test_aggressive_dpo_collapses_and_the_gentler_retry_holds(agent_factory, store, merged):
    inputs = {"model": merged["output"]["key"], "model_fingerprint": merged["output"]["fingerprint"],
              "preference_data": "runs/r1/data/preferences.jsonl", "eval_data": "runs/r1/data/eval.jsonl"}
    agent = agent_factory()
    agent.post({"job_id": "dpo-1", "stage": "dpo", "inputs": inputs, "params": {**BASE, **AGGRESSIVE}})
    st = agent.wait_status("dpo", "dpo-1", timeout=600)
    assert st["state"] == "failed" and st["failure_class"] == "dpo_collapsed", st
    m = st["metrics"]
    baseline = m["probe_baseline"]
    assert baseline >= 0.2, "the SFT model must do the task for a collapse to show"
    assert m["collapse_reason"] and m["history"] and m["history"][0]["step"] == 1
    assert {"logps/chosen", "rewards/accuracies", "rewards/margins"} <= set(m["history"][0])
    stopped_at = m["probe_history"][-1]["step"]
    assert stopped_at < BASE["max_steps"], "the guard stops the run, it does not finish"
    assert m["probe_history"][-1]["metric"] < baseline - BASE["probe_margin"]

    gentler = {"learning_rate": AGGRESSIVE["learning_rate"] / 4, "beta": AGGRESSIVE["beta"] * 2}
    agent.post({"job_id": "dpo.r2-1", "stage": "dpo", "inputs": inputs, "params": {**BASE, **gentler}})
    st2 = agent.wait_status("dpo", "dpo.r2-1", timeout=600)
    assert st2["state"] == "succeeded", st2
    m2 = st2["metrics"]
    assert st2["resumed_from_step"] == 0 and st2["steps_done"] == BASE["max_steps"]
    assert m2["continuity"]["probe_checked"], "policy and reference started as the merged SFT model"
    assert m2["probe_baseline"] == baseline  # measured again on the merged SFT model, not the collapsed one
    assert m2["probe_final"] >= baseline - BASE["probe_margin"], m2["probe_history"]
    assert st2["output"]["fingerprint"] != merged["output"]["fingerprint"]
