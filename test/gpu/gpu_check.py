"""The GPU check: the real trainer on a real GPU, offline, and what it measured.

    python3 test/gpu/gpu_check.py [--wheels DIR] [--out bench/results/gpu.json] [--sft-steps 60]

On a machine with an NVIDIA GPU and no network, runs the real agent against a
temporary file:// store, the way the control plane does: preflight with NCCL
(expected_gpus = the GPUs torch sees, dtype bfloat16), then SFT, merge, DPO
and generate in bf16 with gradient checkpointing, for a few steps each, on a
random model with Qwen2.5-0.5B's real shape (gpu_model.py; about 0.5 B
parameters, built here in seconds). With 2 or more GPUs, preflight, SFT and
DPO run 2 ranks under torchrun. Writes --out (default bench/results/gpu.json):
step time, tokens/s, peak GPU memory, an MFU estimate (its formula and the
peak FLOPs assumed for the GPU found: gpu_measure.py), checkpoint save and
upload seconds, each stage's wall time, and generate's tokens/s. Exit 0 when
every stage succeeded, 1 when one failed (the JSON then holds its log tail).
Takes about 3 minutes on one H200, and stops itself at --deadline-s (450).

Without a GPU it prints `skipped: no GPU ...`, writes nothing and exits 0.

--wheels DIR installs every wheel in DIR (pip --no-index --no-deps, into a
temporary folder put first on the path of this process and the agent) before
anything is imported: the packages this Python lacks, or needs in another
version. Make the folder on a machine with PyPI (test/gpu/README.md):
    pip download -r trainer/requirements.txt -d wheels/
and install a whole environment from it offline with
    pip install --no-index --find-links wheels/ -r trainer/requirements.txt
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TRAINER = ROOT / "trainer"
DATA = ROOT / "examples" / "tiny" / "data"
RUN, HOST = "gpu-check", "gpu-check-h1"
NEEDED = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "safetensors", "tokenizers")


def install_wheels(folder: Path) -> Path:
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        sys.exit(
            f"--wheels {folder}: no *.whl files there; make them with "
            f"`pip download -r trainer/requirements.txt -d {folder}` on a machine with PyPI"
        )
    site = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--no-cache-dir",
            "--target",
            str(site),
            *map(str, wheels),
        ],
        check=True,
    )
    print(f"installed {len(wheels)} wheels from {folder} into {site}", file=sys.stderr, flush=True)
    return site


def nvidia_smi_line() -> str:
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found"
    r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return (r.stdout + r.stderr).strip().replace("\n", " | ") or f"nvidia-smi exit {r.returncode}"


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in NEEDED:
        try:
            out[name] = __import__(name).__version__
        except Exception as e:  # noqa: BLE001 - report what is missing
            out[name] = f"missing: {type(e).__name__}: {e}"
    return out


class Agent:
    """The real host agent as a subprocess, and the jobs posted to it."""

    def __init__(self, store, workdir: Path, env: dict):
        self.store, self.workdir = store, workdir
        self.log = open(workdir.parent / "agent.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_finetune.agent",
                "--store",
                store.uri,
                "--run",
                RUN,
                "--host",
                HOST,
                "--workdir",
                str(workdir),
                "--poll-s",
                "0.2",
                "--heartbeat-s",
                "2",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def run(self, stage: str, inputs: dict, params: dict, deadline: float) -> dict:
        from durable_finetune.timeutil import now_iso

        job = {
            "job_id": f"{stage}-1",
            "run_id": RUN,
            "host_id": HOST,
            "stage": stage,
            "resume": False,
            "created_at": now_iso(),
            "inputs": inputs,
            "params": params,
        }
        self.store.put_json(f"runs/{RUN}/hosts/{HOST}/job.json", job)
        failed_at = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            st = self.store.get_json(f"runs/{RUN}/stages/{stage}/status.json")
            if st and st.get("job_id") == job["job_id"]:
                # A failed stage's own status gets its log tail from the agent a moment later.
                failed_at = failed_at or time.monotonic()
                if st["state"] != "failed" or st.get("log_tail") or time.monotonic() - failed_at > 10:
                    return st
            time.sleep(0.2)
        why = "the agent died" if self.proc.poll() is not None else "the check's deadline passed"
        return {"state": "no status", "message": why, "log_tail": self.tail(40)}

    def tail(self, n: int) -> list[str]:
        self.log.flush()
        return (self.workdir.parent / "agent.log").read_text(errors="replace").splitlines()[-n:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", type=Path, help="a folder of wheels to install first (offline)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu.json")
    ap.add_argument("--sft-steps", type=int, default=60)
    ap.add_argument("--dpo-steps", type=int, default=10)
    ap.add_argument("--deadline-s", type=float, default=450, help="stop (and fail) after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store and agent folder")
    a = ap.parse_args()
    t_start = time.monotonic()
    deadline = t_start + a.deadline_s

    try:
        import torch
    except ImportError:
        torch = None
    if torch is None and shutil.which("nvidia-smi") is None:
        print(f"skipped: no GPU (torch is not importable; {nvidia_smi_line()})")
        return 0
    if torch is not None and torch.cuda.device_count() == 0:
        print(
            f"skipped: no GPU (torch.cuda.device_count() is 0, torch {torch.__version__} CUDA "
            f"{torch.version.cuda}; {nvidia_smi_line()})"
        )
        return 0
    extra_path = []
    if a.wheels is not None:
        site = install_wheels(a.wheels)
        sys.path.insert(0, str(site))
        extra_path.append(str(site))
    if torch is None:
        try:
            import torch
        except ImportError:
            sys.exit(
                "torch is not importable here: pass --wheels with a folder made by "
                "`pip download -r trainer/requirements.txt -d wheels/` (test/gpu/README.md)"
            )

    sys.path.insert(0, str(TRAINER))
    sys.path.insert(0, str(TRAINER / "tests"))  # stage_params: complete job params from the config's defaults
    sys.path.insert(0, str(HERE))
    import gpu_measure as gm
    import gpu_model
    from durable_finetune.store import open_store
    from stage_params import job_params

    found = versions()
    missing = [k for k, v in found.items() if str(v).startswith("missing")]
    if missing:
        sys.exit(f"missing Python packages {missing}: pass --wheels with their wheels (test/gpu/README.md)")
    gpus = gm.gpu_facts(torch)
    ranks = max(1, min(2, gpus["count"]))
    result: dict = {"ok": False, "gpu": gpus, "versions": found, "ranks": ranks, "stages": {}}
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    store = open_store(f"file://{root / 'store'}")
    base_key, data = f"runs/{RUN}/inputs/base-model", f"runs/{RUN}/data"
    t0 = time.monotonic()
    result["model"] = gpu_model.write_model(root / "model", DATA, "cuda")
    result["model"]["build_s"] = round(time.monotonic() - t0, 1)
    gpu_model.write_sft_rows(DATA / "sft.jsonl", root / "sft.jsonl")
    store.upload_dir(root / "model", base_key)
    store.put_file(f"{data}/sft.jsonl", root / "sft.jsonl")
    for name in ("preferences", "eval"):
        store.put_file(f"{data}/{name}.jsonl", DATA / f"{name}.jsonl")

    train = dict(
        batch_size=8,
        seed=0,
        lora={"r": 16, "alpha": 32},
        dtype="bfloat16",
        logging_steps=1,
        gradient_checkpointing=True,
        ranks=ranks,
        lr_scheduler="constant",
    )
    sft = job_params(
        "sft", **train, max_steps=a.sft_steps, save_steps=max(1, a.sft_steps // 3), max_length=1024, learning_rate=2e-4
    )
    dpo = job_params(
        "dpo",
        **train,
        max_steps=a.dpo_steps,
        save_steps=max(1, a.dpo_steps // 2),
        max_length=512,
        learning_rate=5e-6,
        beta=0.1,
        sft_loss_weight=0.2,
        probe_every=max(1, a.dpo_steps // 2),
        probe_items=8,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*extra_path, str(TRAINER), os.environ.get("PYTHONPATH", "")])}
    (root / "agent").mkdir()
    agent = Agent(store, root / "agent", env)
    outputs: dict[str, dict] = {}
    try:
        plan = [
            (
                "preflight",
                {},
                job_params(
                    "preflight",
                    ranks=ranks,
                    timeout_s=60,
                    min_free_disk_gb=1,
                    expected_gpus=gpus["count"],
                    dtype="bfloat16",
                ),
            ),
            ("sft", {"base_model": base_key, "sft_data": f"{data}/sft.jsonl"}, sft),
            ("merge", {"base_model": base_key}, job_params("merge", dtype="bfloat16", tolerance=5e-2)),
            ("dpo", {"preference_data": f"{data}/preferences.jsonl", "eval_data": f"{data}/eval.jsonl"}, dpo),
            (
                "generate",
                {"eval_data": f"{data}/eval.jsonl"},
                job_params("generate", max_new_tokens=64, batch_size=16, seed=0, dtype="bfloat16"),
            ),
        ]
        for stage, inputs, params in plan:
            if stage == "merge":
                inputs.update(adapter=outputs["sft"]["key"], adapter_fingerprint=outputs["sft"]["fingerprint"])
            if stage == "dpo":
                inputs.update(model=outputs["merge"]["key"], model_fingerprint=outputs["merge"]["fingerprint"])
            if stage == "generate":
                params["models"] = {"base": base_key, "sft": outputs["merge"]["key"], "dpo": outputs["dpo"]["key"]}
            memory = gm.GpuMemory()
            watch = gm.StageWatch(
                store, RUN, stage, f"{stage}-1", root / "agent" / "stages" / stage / f"{stage}-1" / "trainer"
            )
            memory.start()
            watch.start()
            t0 = time.monotonic()
            st = agent.run(stage, inputs, params, deadline)
            watch.stop()
            entry = {"state": st["state"], "seconds": round(time.monotonic() - t0, 1), "gpu_memory": memory.stop()}
            if stage in ("sft", "dpo"):
                entry.update(
                    step_time_s=watch.step_time_s(), checkpoints=watch.checkpoints(), steps_done=st.get("steps_done")
                )
            entry["metrics"] = {k: v for k, v in (st.get("metrics") or {}).items() if not isinstance(v, list)}
            if st["state"] != "succeeded":
                entry.update(
                    failure_class=st.get("failure_class"),
                    message=st.get("message"),
                    log_tail=(st.get("log_tail") or [])[-25:],
                )
            result["stages"][stage] = entry
            print(f"{stage}: {entry['state']} in {entry['seconds']} s", file=sys.stderr, flush=True)
            if st["state"] != "succeeded":
                break
            outputs[stage] = st["output"]
        else:
            result["ok"] = True
        report = store.get_json(f"runs/{RUN}/stages/preflight/output/report.json") or {}
        result["preflight"] = {k: report.get(k) for k in ("gpus", "devices", "all_reduce", "nccl", "dtype")}
        if "sft" in result["stages"]:
            result["sft"] = sft_throughput(result, sft, root, gm, gpu_model)
    finally:
        agent.stop()
        if a.keep or not result["ok"]:
            result["workdir"] = str(root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    result["seconds_total"] = round(time.monotonic() - t_start, 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(gm.dumps(result) + "\n")
    print(gm.dumps({k: result[k] for k in ("ok", "seconds_total") if k in result} | {"sft": result.get("sft")}))
    print(f"wrote {a.out}", file=sys.stderr)
    return 0 if result["ok"] else 1


def sft_throughput(result: dict, sft: dict, root: Path, gm, gpu_model) -> dict:
    """Tokens per step and per second, and the MFU estimate, from SFT's steady-state step time."""
    step_s = result["stages"]["sft"].get("step_time_s")
    seq = gpu_model.mean_row_tokens(root / "model", root / "sft.jsonl", sft["max_length"])
    per_step = seq * sft["batch_size"] * sft.get("gradient_accumulation_steps", 1) * result["ranks"]
    out = {
        "batch_size_per_rank": sft["batch_size"],
        "ranks": result["ranks"],
        "max_length": sft["max_length"],
        "gradient_checkpointing": sft["gradient_checkpointing"],
        "mean_row_tokens": round(seq, 1),
        "tokens_per_step": round(per_step),
        "step_time_s": step_s,
    }
    if step_s:
        tps = per_step / step_s
        out["tokens_per_s"] = round(tps, 1)
        m = result["model"]
        out["mfu"] = gm.mfu(tps, m["matmul_parameters"], m["dims"], seq, result["gpu"]["names"][0], result["ranks"])
    return out


if __name__ == "__main__":
    sys.exit(main())
