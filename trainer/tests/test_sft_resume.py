"""SFT through the agent: SIGTERM checkpoints and stops; a resume job continues from there.

The interrupted and the resumed job track to backends that fail (an MLflow server that is
down, a W&B key whose variable is unset): each job logs one warning per backend, trains
to the same adapter as the untracked straight run, and TensorBoard shows each step once."""

import time
from pathlib import Path

import pytest
from conftest import wait_for_checkpoint
from servers import free_port
from stage_params import job_params
from test_tracking import tensorboard_scalars

ROOT = Path(__file__).resolve().parents[2]
PARAMS = job_params(
    "sft",
    max_steps=40,
    batch_size=8,
    learning_rate=3e-3,
    save_steps=5,
    max_length=128,
    seed=0,
    lora={"r": 8, "alpha": 16},
    logging_steps=1,
)
INPUTS = {"base_model": f"file://{ROOT}/examples/tiny/model", "sft_data": f"file://{ROOT}/examples/tiny/data/sft.jsonl"}


FAILING_TRACKING = {
    "mlflow": {"tracking_uri": f"http://127.0.0.1:{free_port()}", "experiment": "x"},
    "wandb": {"project": "x", "mode": "online", "api_key": "secret:env:FINETUNE_TEST_UNSET_KEY"},
}
# No retries: the refused connection fails at once (the stage's default retries twice).
TRACKING_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


def tracking_warnings(store, job_id: str) -> list[str]:
    log = store.get_bytes(f"runs/r1/stages/sft/logs/{job_id}.log").decode()
    return sorted(line for line in log.splitlines() if line.startswith("tracking:"))


def test_sigterm_then_resume(agent_factory, store, tmp_path):
    tracked = {**PARAMS, "tracking": FAILING_TRACKING}
    agent = agent_factory(env=TRACKING_ENV)
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": tracked})
    wait_for_checkpoint(store, "sft", 5)
    t0 = time.monotonic()
    assert agent.stop(timeout=40) == 0
    assert time.monotonic() - t0 < 30
    st = store.get_json("runs/r1/stages/sft/status.json")
    assert st["job_id"] == "sft-1" and st["state"] == "interrupted", st
    stopped_at = st["steps_done"]
    assert 5 <= stopped_at < 40
    assert store.get_json(f"runs/r1/stages/sft/checkpoints/checkpoint-{stopped_at}/COMMITTED.json")

    agent2 = agent_factory(env=TRACKING_ENV)
    agent2.post({"job_id": "sft-2", "stage": "sft", "resume": True, "inputs": INPUTS, "params": tracked})
    st2 = agent2.wait_status("sft", "sft-2", timeout=120)
    assert st2["state"] == "succeeded", st2
    assert st2["resumed_from_step"] == stopped_at and st2["steps_done"] == 40
    assert st2["output"]["fingerprint"].startswith("sha256:")
    assert store.exists("runs/r1/stages/sft/output/adapter/adapter_model.safetensors")
    prog = store.get_json("runs/r1/stages/sft/progress.json")
    assert prog["job_id"] == "sft-2" and prog["resumed_from_step"] == stopped_at and prog["step"] == 40
    for job_id in ("sft-1", "sft-2"):
        mlflow, wandb = tracking_warnings(store, job_id)
        assert mlflow.startswith("tracking: MLflow failed at start") and "Connection refused" in mlflow, mlflow
        assert wandb.startswith("tracking: W&B failed at start") and "FINETUNE_TEST_UNSET_KEY" in wandb, wandb
    # Both jobs' event files are in the store, and TensorBoard reads them as one curve: every step once.
    store.download_dir("runs/r1/tensorboard/sft", tmp_path / "tb")
    assert len(list((tmp_path / "tb").iterdir())) == 2
    losses = tensorboard_scalars(tmp_path / "tb")["train/loss"]
    assert [step for step, _ in losses] == list(range(1, 41))
    assert [v for step, v in losses if step > stopped_at] == pytest.approx([h["loss"] for h in prog["history"]])

    # Determinism: the same job run without interruption ends with the same adapter, bit for bit
    # (the Trainer restores optimizer, scheduler, RNG states and the data order from the checkpoint).
    straight = agent_factory(run="r2", host="h9")
    straight.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": PARAMS})
    st3 = straight.wait_status("sft", "sft-1", timeout=180)
    assert st3["state"] == "succeeded" and st3["resumed_from_step"] == 0, st3
    assert st3["output"]["fingerprint"] == st2["output"]["fingerprint"], (st3["output"], st2["output"])
