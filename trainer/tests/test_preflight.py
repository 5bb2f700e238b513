"""Preflight through the real agent: two gloo ranks under torchrun, and a rank that hangs."""
import time

from durable_finetune.agent import sanitise_nccl

FAULTS = {"FINETUNE_ALLOW_FAULT_INJECTION": "1"}


def test_two_gloo_ranks_pass_under_torchrun_in_a_sanitised_env(agent_factory, store):
    agent = agent_factory(env={"LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:/opt/lib:/usr/local/gib/lib64/"})
    agent.post({"job_id": "preflight-1", "stage": "preflight",
                "params": {"ranks": 2, "timeout_s": 30, "min_free_disk_gb": 0}})
    st = agent.wait_status("preflight", "preflight-1", timeout=120)
    assert st["state"] == "succeeded", st
    report = store.get_json("runs/r1/stages/preflight/output/report.json")
    ar = report["all_reduce"]
    assert ar["ok"] and ar["launcher"] == "torchrun" and ar["backend"] == "gloo" and ar["ranks"] == 2
    assert [m["device"] for m in report["matmul"]] == ["cpu"] and report["store"]["ok"]
    env = report["env"]
    assert env["LD_LIBRARY_PATH"] == "/opt/lib" and env["NCCL_NET_PLUGIN"] == env["NCCL_TUNER_PLUGIN"] == "none"
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1" and env["PYTHONFAULTHANDLER"] == "1"
    assert "/usr/local/nvidia/lib64" in env["FINETUNE_REMOVED_LD_PATHS"]
    assert report["nccl"]["shadowing_libs"] == []


def test_a_hung_rank_fails_as_distributed_within_the_timeout(agent_factory, store):
    agent = agent_factory(env=FAULTS)
    t0 = time.monotonic()
    agent.post({"job_id": "preflight-1", "stage": "preflight",
                "params": {"ranks": 2, "timeout_s": 8, "min_free_disk_gb": 0, "debug_hang_rank": 1}})
    st = agent.wait_status("preflight", "preflight-1", timeout=90)
    took = time.monotonic() - t0
    assert st["state"] == "failed" and st["failure_class"] == "distributed", st
    assert "all-reduce across 2 ranks (gloo, torchrun) failed" in st["message"]
    assert "Timed out" in st["message"] or "timed out" in st["message"]
    report = store.get_json("runs/r1/stages/preflight/output/report.json")
    assert not report["all_reduce"]["ok"] and report["all_reduce"]["seconds"] < 8 + 30
    assert took < 8 + 30 + 20  # the rank timeout, torchrun's start, the stage's own imports
    assert st["log_tail"]


def test_host_nccl_plugins_are_kept_only_when_asked():
    env = {"LD_LIBRARY_PATH": "/usr/local/gib/lib64:/a", "NCCL_NET_PLUGIN": "gib"}
    clean = sanitise_nccl(env)
    assert clean["LD_LIBRARY_PATH"] == "/a" and clean["NCCL_NET_PLUGIN"] == "none"
    kept = sanitise_nccl({**env, "FINETUNE_KEEP_HOST_NCCL": "1"})
    assert kept["LD_LIBRARY_PATH"] == env["LD_LIBRARY_PATH"] and kept["NCCL_NET_PLUGIN"] == "gib"
    assert kept["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
