"""The DPO collapse guard on the real tiny model, through the real agent.

An aggressive DPO (high learning rate, low beta) collapses the SFT-merged model
for real: the task probe (strict tool-call match on the eval prompts) falls to
nothing within a few steps and the guard stops it with `dpo_collapsed` and the
metric history. The retry the workflow would post next (workflows/dpo.ts: beta
x2, learning rate /4, again from the merged SFT model) completes, and its task
metric stays within probe_margin of the SFT model's.
"""

import json
from pathlib import Path

import pytest
from stage_params import job_params
from test_tracking import tensorboard_scalars

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "examples" / "tiny" / "data" / "eval.jsonl"
TINY_MODEL = ROOT / "examples" / "tiny" / "model"
BASE = job_params(
    "dpo",
    max_steps=15,
    batch_size=16,
    save_steps=15,
    max_length=128,
    seed=0,
    lora={"r": 8, "alpha": 16},
    logging_steps=1,
    sft_loss_weight=0.0,
    probe_every=5,
    probe_items=48,
    probe_margin=0.15,
)
AGGRESSIVE = {"learning_rate": 5e-3, "beta": 0.05}


def test_aggressive_dpo_collapses_and_the_gentler_retry_holds(agent_factory, store, merged, tmp_path):
    inputs = {
        "model": merged["output"]["key"],
        "model_fingerprint": merged["output"]["fingerprint"],
        "preference_data": "runs/r1/data/preferences.jsonl",
        "eval_data": "runs/r1/data/eval.jsonl",
    }
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

    # Tracking: each attempt is its own TensorBoard run in the store, the collapsed one's curves
    # up to the step the guard stopped it on, the retry's with trl's reward figures at every step.
    store.download_dir("runs/r1/tensorboard", tmp_path / "tb")
    collapsed = tensorboard_scalars(tmp_path / "tb" / "dpo")
    assert [s for s, _ in collapsed["train/logps/chosen"]] == [h["step"] for h in m["history"]]
    assert [v for _, v in collapsed["train/logps/chosen"]] == pytest.approx([h["logps/chosen"] for h in m["history"]])
    retry = tensorboard_scalars(tmp_path / "tb" / "dpo.r2")
    for tag in (
        "loss",
        "learning_rate",
        "grad_norm",
        "tokens_per_second",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
    ):
        assert [s for s, _ in retry[f"train/{tag}"]] == list(range(1, BASE["max_steps"] + 1)), tag


def _guard(**knobs):
    from durable_finetune.dpo_guard import CollapseGuard, GuardConfig
    from durable_finetune.params import stage_params

    return CollapseGuard(GuardConfig.of(stage_params("dpo", job_params("dpo", **knobs))))


def _log(guard, step, **logs):
    from types import SimpleNamespace

    guard.on_log(None, SimpleNamespace(global_step=step), None, logs=logs)


def test_guard_stops_on_a_logps_chosen_drop_with_the_history():
    import pytest
    from durable_finetune.runtime import StageFailure

    guard = _guard(collapse_logps_drop=10.0)
    _log(guard, 1, **{"logps/chosen": -3.0, "rewards/margins": 0.0, "rewards/accuracies": 0.5, "loss": 0.69})
    _log(guard, 2, **{"logps/chosen": -9.0, "rewards/margins": 0.5, "rewards/accuracies": 0.7, "loss": 0.5})
    with pytest.raises(StageFailure) as e:
        _log(guard, 3, **{"logps/chosen": -14.0, "rewards/margins": 1.0, "rewards/accuracies": 0.8, "loss": 0.4})
    assert e.value.failure_class == "dpo_collapsed" and "logps/chosen fell from -3.00" in str(e.value)
    assert [h["step"] for h in e.value.metrics["history"]] == [1, 2, 3]


def test_guard_stops_on_early_saturation_but_not_later():
    import pytest
    from durable_finetune.runtime import StageFailure

    saturated = {"logps/chosen": -3.0, "rewards/margins": 8.0, "rewards/accuracies": 1.0, "loss": 0.0003}
    guard = _guard(collapse_early_steps=5, collapse_loss_floor=0.01)
    _log(guard, 1, **{**saturated, "rewards/margins": 0.0, "rewards/accuracies": 0.0})
    with pytest.raises(StageFailure) as e:
        _log(guard, 3, **saturated)
    assert "rewards/accuracies 1.0" in str(e.value) and e.value.metrics["collapse_reason"]
    late = _guard(collapse_early_steps=5, collapse_loss_floor=0.01)
    _log(late, 1, **{**saturated, "rewards/margins": 0.0, "rewards/accuracies": 0.0})
    _log(late, 40, **saturated)  # a converged run late in training is not a collapse


def test_an_eval_set_without_tool_call_items_skips_the_task_probe_and_says_so(agent_factory, store, merged):
    answers = [
        {"id": f"a{i}", "messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "reference": str(2 * i)}
        for i in range(4)
    ]
    store.put_bytes("runs/r1/data/answers.jsonl", "".join(json.dumps(a) + "\n" for a in answers).encode())
    inputs = {
        "model": merged["output"]["key"],
        "model_fingerprint": merged["output"]["fingerprint"],
        "preference_data": "runs/r1/data/preferences.jsonl",
        "eval_data": "runs/r1/data/answers.jsonl",
    }
    agent = agent_factory()
    agent.post(
        {
            "job_id": "dpo-1",
            "stage": "dpo",
            "inputs": inputs,
            "params": {**BASE, "max_steps": 2, "save_steps": 2, "probe_every": 1, "learning_rate": 1e-4, "beta": 0.1},
        }
    )
    st = agent.wait_status("dpo", "dpo-1", timeout=600)
    assert st["state"] == "succeeded", st
    m = st["metrics"]
    assert "no items with an expected_call" in m["probe_skipped"], m["probe_skipped"]
    assert m["probe_history"] == [] and m["probe_baseline"] is None and m["probe_final"] is None


def test_probe_every_0_means_no_task_probe_at_all(store, tmp_path):
    from durable_finetune.params import stage_params
    from durable_finetune.runtime import StageContext
    from durable_finetune.stages.dpo import task_probe

    store.put_file("runs/r1/data/eval.jsonl", EVAL)
    job = {
        "job_id": "dpo-1",
        "stage": "dpo",
        "run_id": "r1",
        "inputs": {"eval_data": "runs/r1/data/eval.jsonl"},
        "params": {**BASE, "probe_every": 0},
    }
    ctx = StageContext(job, store, tmp_path)
    assert task_probe(ctx, stage_params("dpo", job["params"]), str(TINY_MODEL)) == (None, "probe_every is 0")
    probe, why = task_probe(ctx, stage_params("dpo", {**job["params"], "probe_every": 5}), str(TINY_MODEL))
    assert why is None and len(probe.items) == BASE["probe_items"]
