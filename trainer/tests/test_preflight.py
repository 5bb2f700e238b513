"""Preflight through the real agent: two gloo ranks under torchrun, a rank that hangs, and a host
without the GPUs it must have (this machine has none: CUDA really sees 0)."""

import os
import time

import pytest
from durable_finetune.agent import sanitise_nccl
from stage_params import job_params

FAULTS = {"FINETUNE_ALLOW_FAULT_INJECTION": "1"}


def test_two_gloo_ranks_pass_under_torchrun_in_a_sanitised_env(agent_factory, store):
    agent = agent_factory(env={"LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:/opt/lib:/usr/local/gib/lib64/"})
    agent.post(
        {
            "job_id": "preflight-1",
            "stage": "preflight",
            "params": job_params("preflight", ranks=2, timeout_s=30, min_free_disk_gb=0, expected_gpus=0),
        }
    )
    st = agent.wait_status("preflight", "preflight-1", timeout=120)
    assert st["state"] == "succeeded", st
    prog = store.get_json("runs/r1/stages/preflight/progress.json")
    assert prog["job_id"] == "preflight-1" and prog["step"] == prog["total_steps"] == 6, prog
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
    agent.post(
        {
            "job_id": "preflight-1",
            "stage": "preflight",
            "params": job_params(
                "preflight", ranks=2, timeout_s=8, min_free_disk_gb=0, expected_gpus=None, debug_hang_rank=1
            ),
        }
    )
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


def test_a_host_without_the_gpus_it_must_have_fails_with_gpu_missing_and_the_evidence(agent_factory, store):
    agent = agent_factory()
    agent.post(
        {
            "job_id": "preflight-1",
            "stage": "preflight",
            "params": job_params("preflight", ranks=2, timeout_s=30, min_free_disk_gb=0, expected_gpus=1),
        }
    )
    st = agent.wait_status("preflight", "preflight-1", timeout=120)
    assert st["state"] == "failed" and st["failure_class"] == "gpu_missing", st
    msg = st["message"]
    assert msg.startswith("expected 1 GPU(s), CUDA sees 0: torch "), msg
    for evidence in ("CUDA_VISIBLE_DEVICES", "nvidia-smi", "/dev/nvidia", "torch.cuda.init()"):
        assert evidence in msg, (evidence, msg)
    assert "Fix: " in msg and "docker run --gpus all" in msg and "preflight.gpus" in msg
    report = store.get_json("runs/r1/stages/preflight/output/report.json")
    assert report["gpus"]["expected"] == 1 and report["gpus"]["device_count"] == 0
    assert "all_reduce" not in report, "no CPU all-reduce stands in for the missing GPUs"
    assert st["metrics"]["gpus"]["device_count"] == 0


def test_a_broken_driver_is_told_apart_from_a_missing_one(tmp_path, monkeypatch):
    """nvidia-smi present but failing (the driver cannot talk to the GPU): its output is the evidence."""
    import torch
    from durable_finetune.gpus import gpu_evidence, missing_gpus

    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it couldn'\\''t communicate with the NVIDIA driver.'\nexit 9\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    (tmp_path / "libcuda.so.1").write_bytes(b"")
    monkeypatch.setenv("FINETUNE_REMOVED_LD_PATHS", str(tmp_path))
    ev = gpu_evidence(torch)
    assert ev["nvidia_smi"] == {
        "found": True,
        "exit_code": 9,
        "output": ["NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."],
    }
    why = missing_gpus(2, ev)
    assert "expected 2 GPU(s), CUDA sees 0" in why and "nvidia-smi -L exit 9: NVIDIA-SMI has failed" in why
    assert "CUDA_VISIBLE_DEVICES=''" in why and "unset CUDA_VISIBLE_DEVICES" in why
    assert f"libcuda is in {tmp_path}, which the agent removed" in why and "FINETUNE_KEEP_HOST_NCCL=1" in why
    assert missing_gpus(0, ev) is None and missing_gpus(None, ev) is None


def test_bf16_where_asked_and_supported_float32_on_cpu_and_a_clear_failure_without_bf16():
    from durable_finetune.runtime import StageFailure, choose_dtype

    assert choose_dtype("bfloat16", cuda=True, bf16_ok=True, gpu="NVIDIA H200") == "bfloat16"
    assert choose_dtype("float32", cuda=True, bf16_ok=True, gpu="NVIDIA H200") == "float32"
    assert choose_dtype("bfloat16", cuda=False, bf16_ok=False, gpu=None) == "float32"
    with pytest.raises(StageFailure) as e:
        choose_dtype("bfloat16", cuda=True, bf16_ok=False, gpu="Tesla V100-SXM2-16GB")
    assert e.value.failure_class == "bf16_unsupported"
    assert "Tesla V100" in str(e.value) and "model.dtype: float32" in str(e.value)
