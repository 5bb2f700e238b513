"""The shared examples of test/fixtures/store (test/unit/store-contract.test.ts reads the same):
each is a valid file of its kind by contract/store.schema.json, and our writers, given the
example's inputs, write the example's values (times, pids and durations aside)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from durable_finetune.agent import Agent
from durable_finetune.checkpoint import commit_checkpoint
from durable_finetune.progress import Progress
from durable_finetune.runtime import StageContext
from durable_finetune.stages.generate import generation_line
from store_contract import problems

FIX = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "store"
INDEX = json.loads((FIX / "files.json").read_text())["files"]


def fixture(name):
    return json.loads((FIX / name).read_text())


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize("name", sorted(INDEX))
def test_every_example_is_a_valid_file_of_its_kind(name):
    assert problems(INDEX[name], fixture(name)) == []


def test_a_drifted_file_is_refused():
    status = fixture("status.json")
    assert problems("status", {**status, "extra": 1}) == [
        "(top): Additional properties are not allowed ('extra' was unexpected)"
    ]
    assert problems("status", without(status, "duration_s")) == ["(top): 'duration_s' is a required property"]
    assert problems("status", {**status, "steps_done": "250"}) != []


def test_job_example_is_accepted(store, tmp_path):
    job = fixture("job.json")
    ctx = StageContext(job, store, tmp_path)
    assert ctx.stage_prefix == f"runs/{job['run_id']}/stages/sft"
    assert ctx.params["lora"] == {"r": 32, "alpha": 64, "dropout": 0.0, "target_modules": "all-linear"}
    assert not ctx.resume and ctx.job_id == "sft-1"


@pytest.mark.parametrize("name", ["status.json", "status-dpo.json"])
def test_a_stage_writes_the_status_example(store, tmp_path, name):
    fx = fixture(name)
    job = {**fixture("job.json"), "job_id": fx["job_id"], "stage": fx["stage"]}
    ctx = StageContext(job, store, tmp_path)
    written = ctx.write_status(
        fx["state"],
        output=fx["output"],
        metrics=fx["metrics"],
        steps_done=fx["steps_done"],
        resumed_from_step=fx["resumed_from_step"],
    )
    volatile = ("started_at", "finished_at", "duration_s")
    assert without(written, *volatile) == without(fx, *volatile)
    assert store.get_json(ctx.key("status.json")) == written
    assert problems("status", written) == []


def test_the_agent_writes_the_failed_status_and_heartbeat_examples(store, tmp_path):
    fx, beat_fx = fixture("status-failed.json"), fixture("agent.json")
    agent = Agent(store, "demo-20261128-1", "demo-20261128-1-h1", tmp_path, 1, 1)
    agent.job, agent.job_started_at = {"job_id": fx["job_id"], "stage": fx["stage"]}, fx["started_at"]
    agent.log_path = tmp_path / "x.log"
    agent.log_path.write_text("".join(line + "\n" for line in fx["log_tail"]))
    agent._write_failed(fx["failure_class"], fx["message"], fx["exit_code"], 9)
    written = store.get_json("runs/demo-20261128-1/stages/sft/status.json")
    assert without(written, "finished_at", "duration_s") == without(fx, "finished_at", "duration_s")

    agent.job = {"job_id": beat_fx["job_id"], "stage": beat_fx["stage"]}
    agent.job_started_at, agent.started_at = beat_fx["job_started_at"], beat_fx["started_at"]
    agent.proc = SimpleNamespace(pid=beat_fx["stage_pid"])  # a running stage process, as far as the beat goes
    agent.heartbeat(force=True)
    beat = store.get_json("runs/demo-20261128-1/hosts/demo-20261128-1-h1/agent.json")
    assert without(beat, "pid", "updated_at") == without(beat_fx, "pid", "updated_at")
    agent.proc = agent.job = None
    agent.heartbeat(force=True)
    idle = store.get_json("runs/demo-20261128-1/hosts/demo-20261128-1-h1/agent.json")
    assert (idle["state"], idle["job_id"], idle["stage"], idle["stage_pid"], idle["job_started_at"]) == (
        "idle",
        None,
        None,
        None,
        None,
    )
    assert problems("agent", idle) == []


def test_progress_writes_the_example(store):
    fx = fixture("progress.json")
    p = Progress(
        store, "runs/r/stages/dpo/progress.json", fx["job_id"], fx["stage"], fx["total_steps"], min_interval_s=0
    )
    for entry in fx["history"]:
        p.log(entry["step"], entry["loss"], without(entry, "step", "loss"))
    got = store.get_json("runs/r/stages/dpo/progress.json")
    assert without(got, "updated_at") == without(fx, "updated_at")


def test_a_checkpoint_commit_writes_the_example(store, tmp_path):
    fx = fixture("COMMITTED.json")
    (tmp_path / "c").mkdir()
    # The example's files: their sizes and sha256 are in it.
    (tmp_path / "c" / "adapter_config.json").write_bytes(b'{"peft_type": "LORA", "r": 32, "lora_alpha": 64}\n')
    (tmp_path / "c" / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 8)
    key = commit_checkpoint(store, tmp_path / "c", "runs/r/stages/sft/checkpoints", fx["step"], fx["job_id"])
    got = store.get_json(f"{key}/COMMITTED.json")
    assert without(got, "committed_at", "upload_seconds") == without(fx, "committed_at", "upload_seconds")


def test_generation_line_keys():
    fx = [json.loads(x) for x in (FIX / "generations.jsonl").read_text().splitlines()]
    assert all(set(generation_line("sft", "eval-0001", "{}")) == set(row) for row in fx)
