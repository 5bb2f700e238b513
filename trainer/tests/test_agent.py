"""The real agent process running real stages against a file:// store."""

import os
import signal
import time

from stage_params import job_params


def test_preflight_runs_once_and_is_deduped(agent_factory, store):
    agent = agent_factory()
    job = {
        "job_id": "preflight-1",
        "stage": "preflight",
        "params": job_params("preflight", ranks=2, timeout_s=30, min_free_disk_gb=0, expected_gpus=None),
    }
    agent.post(job)
    st = agent.wait_status("preflight", "preflight-1", timeout=90)
    assert st["state"] == "succeeded", st
    report = store.get_json("runs/r1/stages/preflight/output/report.json")
    assert report["all_reduce"]["ok"] and report["all_reduce"]["ranks"] == 2 and report["store"]["ok"]
    log = store.get_bytes("runs/r1/stages/preflight/logs/preflight-1.log").decode()
    assert "starting preflight-1" in log

    # The same job posted again (a retried runJob) is not run again ...
    agent.post(job)
    time.sleep(1.5)
    assert store.get_json("runs/r1/stages/preflight/status.json")["finished_at"] == st["finished_at"]
    assert agent.stop() == 0
    # ... nor by a new agent that finds its status already in the store.
    agent2 = agent_factory()
    time.sleep(2.5)
    beat = store.get_json("runs/r1/hosts/h1/agent.json")
    assert beat["pid"] == agent2.proc.pid and beat["state"] == "idle"
    assert store.get_json("runs/r1/stages/preflight/status.json")["finished_at"] == st["finished_at"]


def test_stage_killed_is_classified_by_agent(agent_factory, store):
    agent = agent_factory()
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": {}, "params": job_params("sft")})
    deadline = time.monotonic() + 30
    pid = None
    while time.monotonic() < deadline and not pid:
        beat = store.get_json("runs/r1/hosts/h1/agent.json") or {}
        pid = beat.get("stage_pid") if beat.get("job_id") == "sft-1" else None
        time.sleep(0.1)
    assert pid
    os.kill(pid, signal.SIGKILL)
    st = agent.wait_status("sft", "sft-1", timeout=30)
    assert st["state"] == "failed" and st["failure_class"] == "killed" and st["signal"] == "SIGKILL"
    assert st["exit_code"] == 137 and any("starting sft-1" in line for line in st["log_tail"])


def test_bad_input_fails_with_class_from_stage(agent_factory, store):
    agent = agent_factory()
    agent.post(
        {
            "job_id": "merge-1",
            "stage": "merge",
            "inputs": {
                "base_model": "file:///nonexistent",
                "adapter": "runs/r1/stages/sft/output/adapter",
                "adapter_fingerprint": "sha256:0",
            },
            "params": job_params("merge"),
        }
    )
    st = agent.wait_status("merge", "merge-1", timeout=60)
    assert st["state"] == "failed" and st["failure_class"] == "bad_data"
    assert st["exit_code"] == 1 and st["log_tail"]


def _stage_pid(store, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beat = store.get_json("runs/r1/hosts/h1/agent.json") or {}
        if beat.get("job_id") == job_id and beat.get("stage_pid"):
            return beat["stage_pid"]
        time.sleep(0.1)
    raise AssertionError(f"{job_id} did not start")


def _gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_stage_dies_with_its_agent_and_its_start_is_recorded(agent_factory, store):
    from test_sft_resume import INPUTS, PARAMS

    agent = agent_factory()
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": INPUTS, "params": {**PARAMS, "max_steps": 1000}})
    pid = _stage_pid(store, "sft-1")
    assert os.getpgid(pid) == os.getpgid(agent.proc.pid), "the stage is in the host's process group"
    starts = store.list("runs/r1/stages/sft/starts/sft-1/")
    assert len(starts) == 1 and starts[0].endswith(f"h1-{pid}.json")
    agent.proc.kill()
    agent.proc.wait()
    assert _gone(pid), "a stage must not outlive its agent: it would train beside the resumed job"
