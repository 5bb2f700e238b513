"""Our writers produce exactly the key sets of the shared contract fixtures."""

import json
from pathlib import Path

from durable_finetune.agent import Agent
from durable_finetune.checkpoint import commit_checkpoint
from durable_finetune.progress import Progress
from durable_finetune.stages.common import StageContext
from durable_finetune.stages.generate import generation_line

FIX = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "store"


def fixture(name):
    return json.loads((FIX / name).read_text())


def test_job_fixture_is_accepted(store, tmp_path):
    job = fixture("job.json")
    ctx = StageContext(job, store, tmp_path)
    assert ctx.stage_prefix == f"runs/{job['run_id']}/stages/sft"
    assert ctx.params["lora"]["r"] == 32 and not ctx.resume


def test_status_keys(store, tmp_path):
    ctx = StageContext(fixture("job.json"), store, tmp_path)
    written = ctx.write_status("succeeded", output={"key": "k", "fingerprint": "sha256:x"}, steps_done=1)
    assert set(written) == set(fixture("status.json"))
    assert set(store.get_json(ctx.key("status.json"))) == set(fixture("status.json"))


def test_agent_failed_status_and_heartbeat_keys(store, tmp_path):
    agent = Agent(store, "r1", "h1", tmp_path, 1, 1)
    agent.job, agent.job_started_at = {"job_id": "sft-2", "stage": "sft"}, "2026-11-28T22:05:00.000Z"
    agent.log_path = tmp_path / "x.log"
    agent.log_path.write_text("line\n")
    agent._write_failed("killed", "gone", 137, 9)
    assert set(store.get_json("runs/r1/stages/sft/status.json")) == set(fixture("status-failed.json"))
    agent.job = None
    agent.heartbeat(force=True)
    assert set(store.get_json("runs/r1/hosts/h1/agent.json")) == set(fixture("agent.json"))


def test_progress_keys(store):
    p = Progress(store, "runs/r/stages/dpo/progress.json", "dpo-1", "dpo", 40, min_interval_s=0)
    p.log(1, 0.7, {"rewards/chosen": 0.0})
    got = store.get_json("runs/r/stages/dpo/progress.json")
    assert set(got) == set(fixture("progress.json"))
    assert got["history"] == [{"step": 1, "loss": 0.7, "rewards/chosen": 0.0}]


def test_committed_keys(store, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "adapter_model.safetensors").write_bytes(b"w")
    key = commit_checkpoint(store, tmp_path / "c", "runs/r/stages/sft/checkpoints", 100, "sft-1")
    got = store.get_json(f"{key}/COMMITTED.json")
    fx = fixture("COMMITTED.json")
    assert set(got) == set(fx) and set(got["files"][0]) == set(fx["files"][0])


def test_generation_line_keys():
    fx = [json.loads(x) for x in (FIX / "generations.jsonl").read_text().splitlines()]
    assert all(set(generation_line("sft", "eval-0001", "{}")) == set(row) for row in fx)
