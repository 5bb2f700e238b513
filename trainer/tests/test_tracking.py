"""Experiment tracking while a training stage runs, against the real parts: a tiny SFT
through the real agent logs to a real MLflow server (started from its PyPI package)
and to W&B in offline mode, and its TensorBoard files, read back with the
tensorboard package's reader, are in the store. Their secrets are canaries the host resolves
itself (the MLflow token from the fake Secret Manager; the W&B key, from its environment, is not
even read: offline W&B needs none), found
afterwards in no file the stage, the agent or the MLflow server left. (Backends that are down:
test_sft_resume; DPO's reward metrics and one TensorBoard run per attempt: test_dpo_guard.)"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from secret_manager import secret_manager  # noqa: F401
from servers import free_port, wait_serving
from stage_params import job_params

ROOT = Path(__file__).resolve().parents[2]
INPUTS = {"base_model": f"file://{ROOT}/examples/tiny/model", "sft_data": f"file://{ROOT}/examples/tiny/data/sft.jsonl"}
STEPS = 4
PARAMS = job_params(
    "sft",
    max_steps=STEPS,
    batch_size=4,
    learning_rate=3e-3,
    save_steps=2,
    max_length=64,
    seed=0,
    lora={"r": 4, "alpha": 8},
    logging_steps=1,
)


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files in `folder`, as TensorBoard reads them (purges applied)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--default-artifact-root",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=open(root / "server.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_serving(f"{url}/health", proc, 120, f"mlflow server (log: {root / 'server.log'})")
    except RuntimeError:
        proc.kill()
        raise
    yield url
    proc.terminate()
    proc.wait(timeout=30)


CANARY_MLFLOW, CANARY_WANDB = "canary-7f3a-host-mlflow-token-9e2b", "canary-7f3a-host-wandb-key-5d1c"


def test_sft_metrics_reach_tensorboard_in_the_store_mlflow_and_wandb_offline(
    agent_factory,
    store,
    mlflow_server,
    tmp_path,
    tmp_path_factory,
    secret_manager,  # noqa: F811
):
    wandb_dir = tmp_path / "wandb-files"
    mlflow_token = secret_manager.put("finetune-test", "mlflow-token", CANARY_MLFLOW)
    tracking = {
        "mlflow": {"tracking_uri": mlflow_server, "experiment": "tiny", "token": mlflow_token},
        "wandb": {"project": "tiny", "mode": "offline", "api_key": "secret:env:FT_IT_WANDB_KEY"},
    }
    agent = agent_factory(
        env={
            "WANDB_MODE": "offline",
            "WANDB_DIR": str(wandb_dir),
            "FT_IT_WANDB_KEY": CANARY_WANDB,
            "FINETUNE_SECRET_MANAGER_ENDPOINT": secret_manager.url,
        }
    )
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": {**PARAMS, "tracking": tracking}})
    st = agent.wait_status("sft", "sft-1", timeout=300)
    assert st["state"] == "succeeded", st
    log = store.get_bytes("runs/r1/stages/sft/logs/sft-1.log").decode()
    assert "tracking:" not in log, log[-3000:]

    local = tmp_path / "tb"
    store.download_dir("runs/r1/tensorboard/sft", local)
    scalars = tensorboard_scalars(local)
    for tag in ("train/loss", "train/learning_rate", "train/grad_norm", "train/mean_token_accuracy"):
        assert [s for s, _ in scalars[tag]] == list(range(1, STEPS + 1)), (tag, scalars.get(tag))
    assert [s for s, _ in scalars["train/tokens_per_second"]] == list(range(1, STEPS + 1))
    assert all(v > 0 for _, v in scalars["train/tokens_per_second"])
    history = store.get_json("runs/r1/stages/sft/progress.json")["history"]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([h["loss"] for h in history])

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.run_name == "r1/sft" and run.info.status == "FINISHED"
    assert run.data.tags["durable_finetune.run"] == "r1" and run.data.params["lora.r"] == "4"
    assert "tracking.mlflow.tracking_uri" not in run.data.params and "tracking" not in run.data.params
    losses = sorted(client.get_metric_history(run.info.run_id, "train/loss"), key=lambda m: m.step)
    assert [m.step for m in losses] == list(range(1, STEPS + 1))
    assert [m.value for m in losses] == pytest.approx([v for _, v in scalars["train/loss"]])

    (offline,) = (wandb_dir / "wandb").glob("offline-run-*")
    # Also in the store, for `wandb sync` once the host is gone.
    assert store.exists(f"runs/r1/wandb/sft/{offline.name}/run-r1-sft.wandb")
    rows = wandb_history(offline / "run-r1-sft.wandb")
    assert [r["_step"] for r in rows] == list(range(1, STEPS + 1))
    assert [r["train/loss"] for r in rows] == pytest.approx([v for _, v in scalars["train/loss"]])
    assert all(r["train/tokens_per_second"] > 0 for r in rows)

    # The stage read the MLflow token from Secret Manager itself (the Python client), and neither
    # secret is in the store, the agent's output, W&B's files or the MLflow server's database and log.
    assert any(
        a["client"] == "python" and a["status"] == 200 and a["path"].endswith("/mlflow-token/versions/1:access")
        for a in secret_manager.accesses()
    )
    # The agent is stopped first: it keeps writing its heartbeat through temp files that vanish
    # under the scan (CI failed reading one of them), and a stopped agent has left all it will.
    agent.stop()
    (mlflow_root,) = tmp_path_factory.getbasetemp().glob("mlflow[0-9]*")
    files = [f for root in (tmp_path, mlflow_root) for f in root.rglob("*") if f.is_file()]
    assert any(f.name == "sft-1.log" for f in files) and any(f.name.startswith("agent-") for f in files)
    leaks = [f"{c} in {f}" for f in files for c in (CANARY_WANDB, CANARY_MLFLOW) if c.encode() in f.read_bytes()]
    assert leaks == []


def wandb_history(path: Path) -> list[dict]:
    """The history rows of a W&B offline run file: its records (wandb's own protobuf Record) in
    the leveldb log framing wandb writes (a 7-byte file header, then 32 KiB blocks of records,
    each with a 7-byte header: crc32, length, type FULL/FIRST/MIDDLE/LAST)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    rows, pos, part = [], 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        part += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL, LAST
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(part)
            part = b""
            if rec.WhichOneof("record_type") == "history":
                rows.append(
                    {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in rec.history.item}
                )
    return rows


def test_a_job_that_resumes_hides_the_steps_a_lost_host_logged_past_the_checkpoint(store, tmp_path):
    from durable_finetune.tracking_sinks import TensorBoardSink

    key = "runs/r1/tensorboard/sft"
    lost = TensorBoardSink(store, tmp_path / "job-1", key, start_step=0)
    lost.open()
    for step in range(1, 8):  # the host is lost after step 7; its last checkpoint was step 5
        lost.log(step, {"train/loss": 10.0 + step}, 1000.0 + step)
    lost.close("failed")
    time.sleep(1.1)  # event file names carry the second they were opened: the resumed job's sorts after
    resumed = TensorBoardSink(store, tmp_path / "job-2", key, start_step=5)
    resumed.open()
    for step in range(6, 10):
        resumed.log(step, {"train/loss": 20.0 + step}, 2000.0 + step)
    resumed.close("finished")
    store.download_dir(key, tmp_path / "read")
    assert tensorboard_scalars(tmp_path / "read")["train/loss"] == [(s, 10.0 + s) for s in range(1, 6)] + [
        (s, 20.0 + s) for s in range(6, 10)
    ]
