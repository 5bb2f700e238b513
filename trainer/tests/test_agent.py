"""The real agent process running real stages against a file:// store."""
import os
import signal
import time



def test_preflight_runs_once_and_is_deduped(agent_factory, store):
    agent = agent_factory()
    job = {"job_id": "preflight-1", "stage": "preflight", "params": {"ranks": 2, "timeout_s": 30, "min_free_disk_gb": 0}}
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
    agent.post({"job_id": "sft-1", "stage": "sft", "inputs": {}, "params": {}})
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
    agent.post({"job_id": "merge-1", "stage": "merge", "inputs": {"base_model": "file:///nonexistent",
                "adapter": "runs/r1/stages/sft/output/adapter", "adapter_fingerprint": "sha256:0"}, "params": {}})
    st = agent.wait_status("merge", "merge-1", timeout=60)
    assert st["state"] == "failed" and st["failure_class"] == "bad_data"
    assert st["exit_code"] == 1 and st["log_tail"]
