"""Training stages with params.ranks = 2: two gloo CPU ranks under torchrun, through the real agent.

- SFT runs to the end: rank 0 commits each checkpoint with both ranks' RNG states;
- SIGTERM to the agent reaches both ranks; they stop at the same step, one checkpoint is
  committed, and a resume job on two ranks continues from it to the adapter an
  uninterrupted run makes;
- a killed agent takes the ranks with it (no orphan keeps training);
- a rank that dies mid-training (either rank, a crash or a classified failure) fails the
  stage with that rank's class and the log tail, within seconds: no rank is left waiting;
- the continuity checks hold on every rank (no-op training, DPO's step-0 probe);
- DPO on two ranks completes, with the task probe shared from rank 0.
"""

import time
from pathlib import Path

import pytest
from conftest import wait_for_checkpoint
from stage_params import job_params

ROOT = Path(__file__).resolve().parents[2]
FAULTS = {"FINETUNE_ALLOW_FAULT_INJECTION": "1"}
LORA = {"r": 8, "alpha": 16}
SFT = job_params(
    "sft",
    max_steps=6,
    batch_size=4,
    learning_rate=3e-3,
    save_steps=3,
    max_length=128,
    seed=0,
    lora=LORA,
    logging_steps=1,
    ranks=2,
)
SFT_INPUTS = {
    "base_model": f"file://{ROOT}/examples/tiny/model",
    "sft_data": f"file://{ROOT}/examples/tiny/data/sft.jsonl",
}


def log_of(store, stage, job_id) -> str:
    data = store.get_bytes(f"runs/r1/stages/{stage}/logs/{job_id}.log")
    return data.decode(errors="replace") if data else ""


def ranks_left(tmp_path) -> list[int]:
    """pids of rank processes of this test still alive (the launcher gives ranks FINETUNE_RANKS_DIR
    under the agent's workdir, inside tmp_path)."""
    mark = f"FINETUNE_RANKS_DIR={tmp_path}".encode()
    left = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark in environ.read_bytes():
                left.append(int(environ.parent.name))
        except OSError:
            continue
    return left


def test_two_rank_sft_runs_to_the_end_and_commits_checkpoints(agent_factory, store):
    agent = agent_factory()
    t0 = time.monotonic()
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": SFT_INPUTS, "params": SFT})
    st = agent.wait_status("sft", "sft-1", timeout=120)
    assert st["state"] == "succeeded", st
    assert st["steps_done"] == 6 and st["output"]["fingerprint"].startswith("sha256:")
    # Two ranks of batch 4 each: 8 sequences a step (456 rows in the data set).
    assert abs(st["metrics"]["epoch"] - 6 * 8 / 456) < 1e-3, st["metrics"]
    for step in (3, 6):
        committed = store.get_json(f"runs/r1/stages/sft/checkpoints/checkpoint-{step}/COMMITTED.json")
        files = {f["path"] for f in committed["files"]}
        assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors", "optimizer.pt"} <= files
    prog = store.get_json("runs/r1/stages/sft/progress.json")
    assert prog["job_id"] == "sft-1" and prog["step"] == 6 and prog["last_checkpoint_step"] == 6
    log = log_of(store, "sft", "sft-1")
    assert "torch.distributed.run --standalone --nproc-per-node=2" in log
    assert log.count("trainable parameters:") == 2  # both ranks trained
    assert log.count("committed checkpoint-3") == 1  # one rank committed
    assert len(store.list("runs/r1/stages/sft/starts/sft-1/")) == 1  # one stage process for the job
    print(f"2-rank sft, 6 steps: {time.monotonic() - t0:.1f} s")


def test_sigterm_stops_both_ranks_at_one_committed_checkpoint_and_a_resume_continues(agent_factory, store, tmp_path):
    params = {**SFT, "max_steps": 40, "save_steps": 5}
    agent = agent_factory()
    t0 = time.monotonic()
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": SFT_INPUTS, "params": params})
    wait_for_checkpoint(store, "sft", 5)
    t_stop = time.monotonic()
    assert agent.stop(timeout=40) == 0
    assert time.monotonic() - t_stop < 25  # within the agent's grace, so before a spot VM's hard stop
    st = store.get_json("runs/r1/stages/sft/status.json")
    assert st["job_id"] == "sft-1" and st["state"] == "interrupted", st
    stopped_at = st["steps_done"]
    assert 5 <= stopped_at < 40
    assert store.get_json(f"runs/r1/stages/sft/checkpoints/checkpoint-{stopped_at}/COMMITTED.json")
    log = log_of(store, "sft", "sft-1")
    assert log.count("SIGTERM received: will checkpoint") == 2, log[-3000:]  # the notice reached both ranks
    assert log.count(f"committed checkpoint-{stopped_at}") == 1
    assert ranks_left(tmp_path) == []

    agent2 = agent_factory()
    agent2.post({"job_id": "sft-2", "stage": "sft", "resume": True, "inputs": SFT_INPUTS, "params": params})
    st2 = agent2.wait_status("sft", "sft-2", timeout=120)
    assert st2["state"] == "succeeded", st2
    assert st2["resumed_from_step"] == stopped_at and st2["steps_done"] == 40
    log2 = log_of(store, "sft", "sft-2")
    assert f"resuming from runs/r1/stages/sft/checkpoints/checkpoint-{stopped_at}" in log2
    assert "Didn't find an RNG file" not in log2  # each rank found its own RNG state

    # The same job on two ranks without the interruption ends with the same adapter, bit for bit.
    straight = agent_factory(run="r2", host="h9")
    straight.post({"job_id": "sft-1", "stage": "sft", "inputs": SFT_INPUTS, "params": params})
    st3 = straight.wait_status("sft", "sft-1", timeout=120)
    assert st3["state"] == "succeeded" and st3["output"]["fingerprint"] == st2["output"]["fingerprint"], st3
    print(f"2-rank sft, SIGTERM at step {stopped_at}, resume to 40, straight run: {time.monotonic() - t0:.1f} s")


def test_ranks_die_with_a_killed_agent(agent_factory, store, tmp_path):
    """agent SIGKILLed -> stage (launcher) -> torchrun -> each rank, by parent-death signals: torchrun
    starts ranks in their own sessions, so nothing else would reach them."""
    agent = agent_factory()
    agent.post(
        {
            "job_id": "sft-1",
            "stage": "sft",
            "inputs": SFT_INPUTS,
            "params": {**SFT, "max_steps": 400, "save_steps": 400},
        }
    )
    deadline = time.monotonic() + 90
    while (
        time.monotonic() < deadline
        and ((store.get_json("runs/r1/stages/sft/progress.json") or {}).get("step") or 0) < 2
    ):
        time.sleep(0.1)
    assert len(ranks_left(tmp_path)) >= 2  # both ranks (torchrun inherits the variable too)
    agent.proc.kill()
    agent.proc.wait()
    deadline = time.monotonic() + 10
    while ranks_left(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ranks_left(tmp_path) == []


@pytest.mark.extended  # one-rank twins run in npm test (test_continuity, test_faults)
@pytest.mark.parametrize(
    "fault,rank,klass,evidence",
    [
        ("segfault", 1, "segfault", "killed by SIGSEGV"),  # a native crash: no record, torchrun's exit code
        ("not-a-fault", 0, "bad_data", "params.debug_inject 'not-a-fault'"),  # rank 0 raises a StageFailure
    ],
)
def test_a_rank_that_dies_mid_training_fails_the_stage_with_its_class(
    agent_factory, store, tmp_path, fault, rank, klass, evidence
):
    agent = agent_factory(env=FAULTS)
    t0 = time.monotonic()
    agent.post(
        {
            "job_id": "sft-1",
            "stage": "sft",
            "inputs": SFT_INPUTS,
            "params": {
                **SFT,
                "max_steps": 40,
                "save_steps": 40,
                "debug_inject": fault,
                "debug_fault_rank": rank,
                "debug_inject_at_step": 2,
            },
        }
    )
    st = agent.wait_status("sft", "sft-1", timeout=90)
    took = time.monotonic() - t0
    assert st["state"] == "failed" and st["failure_class"] == klass, st
    assert st["message"].startswith(f"rank {rank} of 2 failed: {klass}: ") and evidence in st["message"], st
    assert st["log_tail"] and st["exit_code"] == 1
    assert took < 60, took  # the other rank was stopped, not left in a collective until its timeout
    assert ranks_left(tmp_path) == []
    print(f"rank {rank} {fault}: failed as {klass} in {took:.1f} s: {st['message']}")


@pytest.mark.extended  # one-rank twins run in npm test (test_continuity, test_faults)
def test_no_op_training_is_caught_on_two_ranks_before_the_first_step(agent_factory, store):
    agent = agent_factory(env=FAULTS)
    agent.post(
        {"job_id": "sft-1", "stage": "sft", "inputs": SFT_INPUTS, "params": {**SFT, "debug_freeze_adapter": True}}
    )
    st = agent.wait_status("sft", "sft-1", timeout=90)
    assert st["state"] == "failed" and st["failure_class"] == "no_op_training", st
    assert "is_trainable=True" in st["message"] and " of 2 failed: no_op_training: " in st["message"]
    assert st["message"].count("no_op_training") == 2  # each rank checked its own model


DPO = job_params(
    "dpo",
    max_steps=4,
    batch_size=4,
    learning_rate=5e-4,
    save_steps=2,
    max_length=128,
    seed=0,
    lora=LORA,
    logging_steps=1,
    beta=0.1,
    sft_loss_weight=0.2,
    probe_every=2,
    probe_items=4,
    probe_max_new_tokens=24,
    ranks=2,
)


def dpo_inputs(merged):
    return {
        "model": merged["output"]["key"],
        "model_fingerprint": merged["output"]["fingerprint"],
        "preference_data": "runs/r1/data/preferences.jsonl",
        "eval_data": "runs/r1/data/eval.jsonl",
    }


def test_two_rank_dpo_completes_with_its_continuity_checks_and_a_shared_task_probe(agent_factory, store, merged):
    agent = agent_factory()
    t0 = time.monotonic()
    agent.post({"job_id": "dpo-1", "stage": "dpo", "inputs": dpo_inputs(merged), "params": DPO})
    st = agent.wait_status("dpo", "dpo-1", timeout=150)
    assert st["state"] == "succeeded", st
    assert st["steps_done"] == 4 and st["metrics"]["continuity"]["probe_checked"] is True
    assert [p["step"] for p in st["metrics"]["probe_history"]] == [0, 2, 4]
    assert store.get_json("runs/r1/stages/dpo/checkpoints/checkpoint-4/COMMITTED.json")
    log = log_of(store, "dpo", "dpo-1")
    assert log.count("step-0 probe logits of policy and reference match") == 2  # every rank checked its model
    assert log.count("task probe at step 2") == 2  # both ranks acted on rank 0's value
    print(f"2-rank dpo, 4 steps: {time.monotonic() - t0:.1f} s")


@pytest.mark.extended  # one-rank twins run in npm test (test_continuity, test_faults)
def test_a_two_rank_dpo_policy_that_is_not_the_merged_model_is_refused(agent_factory, store, merged):
    agent = agent_factory(env=FAULTS)
    agent.post(
        {
            "job_id": "dpo-1",
            "stage": "dpo",
            "inputs": dpo_inputs(merged),
            "params": {**DPO, "debug_reinit_policy": True},
        }
    )
    st = agent.wait_status("dpo", "dpo-1", timeout=120)
    assert st["state"] == "failed" and st["failure_class"] == "continuity", st
    assert "DPO policy at step 0 is not the model" in st["message"]
    prog = store.get_json("runs/r1/stages/dpo/progress.json")
    assert prog is None or prog["job_id"] != "dpo-1" or prog["step"] == 0, prog
