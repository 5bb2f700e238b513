"""Check the GPU path of the trainer on a machine with CUDA, and print a JSON summary.

    python test/gpu/gpu_check.py [--steps 5] [--out gpu_check.json] [--keep]

Runs the real agent against a temporary file:// store, on the tiny example
model, the way the control plane does: preflight with NCCL (2 ranks under
torchrun when there are 2 GPUs, else 1 rank), a few bf16 SFT steps, the merge
in bf16 on the GPU (with its logits and continuity checks), and a few bf16 DPO
steps (continuity probe, collapse guard with the task probe). With 2 or more
GPUs, SFT and DPO train as 2 DDP ranks under torchrun (params.ranks, NCCL),
as a 2 x A100 host does. Prints one JSON
object; exit 0 when every stage succeeded, 1 otherwise.

Without a GPU it prints `skipped: no GPU` and exits 0, so it can sit in any
test run. Needs torch, transformers, peft, trl and datasets (trl may come from
a wheel: pip install trl-*.whl).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINER = ROOT / "trainer"
TINY = ROOT / "examples" / "tiny"
RUN, HOST = "gpu-check", "gpu-check-h1"


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "peft", "trl", "datasets"):
        try:
            out[name] = __import__(name).__version__
        except Exception as e:  # noqa: BLE001 - report what is missing, do not stop here
            out[name] = f"missing: {type(e).__name__}: {e}"
    return out


def stage_jobs(steps: int, ranks: int) -> list[tuple[str, dict, dict]]:
    lora = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    train = {"max_steps": steps, "batch_size": 8, "learning_rate": 1e-3, "save_steps": steps, "max_length": 128,
             "seed": 0, "lora": lora, "dtype": "bfloat16", "logging_steps": 1, "ranks": ranks}
    base, data = f"runs/{RUN}/inputs/base-model", f"runs/{RUN}/data"
    return [
        ("preflight", {}, {"ranks": ranks, "timeout_s": 60, "min_free_disk_gb": 1}),
        ("sft", {"base_model": base, "sft_data": f"{data}/sft.jsonl"}, train),
        ("merge", {"base_model": base}, {"dtype": "bfloat16", "tolerance": 5e-2}),
        ("dpo", {"preference_data": f"{data}/preferences.jsonl", "eval_data": f"{data}/eval.jsonl"},
         {**train, "beta": 0.1, "sft_loss_weight": 0.2, "probe_every": max(1, steps), "probe_items": 8}),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--timeout-s", type=float, default=600, help="per stage")
    ap.add_argument("--out", default=None, help="also write the summary to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store and agent folder")
    a = ap.parse_args()

    try:
        import torch
    except ImportError as e:
        print(json.dumps({"ok": False, "error": f"torch is not importable: {e}"}))
        return 1
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        print("skipped: no GPU (torch.cuda.is_available() is False)")
        return 0

    sys.path.insert(0, str(TRAINER))
    from durable_finetune.store import open_store
    from durable_finetune.timeutil import now_iso

    ngpu = torch.cuda.device_count()
    summary: dict = {"versions": versions(), "gpus": [torch.cuda.get_device_name(i) for i in range(ngpu)],
                     "bf16_supported": torch.cuda.is_bf16_supported(), "ranks": min(2, ngpu), "stages": {}}
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    store = open_store(f"file://{root / 'store'}")
    base = f"runs/{RUN}"
    store.upload_dir(TINY / "model", f"{base}/inputs/base-model")
    for name in ("sft", "preferences", "eval"):
        store.put_file(f"{base}/data/{name}.jsonl", TINY / "data" / f"{name}.jsonl")
    env = {**os.environ, "PYTHONPATH": str(TRAINER) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    agent_log = open(root / "agent.log", "ab")
    agent = subprocess.Popen([sys.executable, "-m", "durable_finetune.agent", "--store", store.uri, "--run", RUN,
                              "--host", HOST, "--workdir", str(root / "agent"), "--poll-s", "0.5",
                              "--heartbeat-s", "2"], env=env, stdout=agent_log, stderr=subprocess.STDOUT)
    outputs: dict[str, dict] = {}
    ok = True
    try:
        for stage, inputs, params in stage_jobs(a.steps, min(2, ngpu)):
            if stage == "merge":
                inputs.update(adapter=outputs["sft"]["key"], adapter_fingerprint=outputs["sft"]["fingerprint"])
            if stage == "dpo":
                inputs.update(model=outputs["merge"]["key"], model_fingerprint=outputs["merge"]["fingerprint"])
            job = {"job_id": f"{stage}-1", "run_id": RUN, "host_id": HOST, "stage": stage, "resume": False,
                   "created_at": now_iso(), "inputs": inputs, "params": params}
            t0 = time.monotonic()
            store.put_json(f"{base}/hosts/{HOST}/job.json", job)
            st = None
            while time.monotonic() - t0 < a.timeout_s and agent.poll() is None:
                st = store.get_json(f"{base}/stages/{stage}/status.json")
                if st and st.get("job_id") == job["job_id"]:
                    break
                st = None
                time.sleep(0.5)
            entry = {"seconds": round(time.monotonic() - t0, 1)}
            if st is None:
                entry.update(state="no status", message="agent died" if agent.poll() is not None else "timed out")
            else:
                entry.update(state=st["state"], failure_class=st.get("failure_class"), message=st.get("message", ""),
                             steps_done=st.get("steps_done"),
                             metrics={k: v for k, v in (st.get("metrics") or {}).items()
                                      if not isinstance(v, (list, dict)) or k in ("continuity", "probe_history")})
                if st["state"] != "succeeded":
                    entry["log_tail"] = st.get("log_tail", [])[-15:]
                else:
                    outputs[stage] = st["output"]
            summary["stages"][stage] = entry
            print(f"{stage}: {entry['state']} in {entry['seconds']} s {entry.get('failure_class') or ''}",
                  file=sys.stderr, flush=True)
            if entry["state"] != "succeeded":
                ok = False
                break
        report = store.get_json(f"{base}/stages/preflight/output/report.json")
        if report:
            summary["preflight"] = {k: report.get(k) for k in ("devices", "matmul", "all_reduce", "nccl", "env")}
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=40)
        except subprocess.TimeoutExpired:
            agent.kill()
        agent_log.close()
        if a.keep or not ok:
            summary["workdir"] = str(root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    summary["ok"] = ok
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
