"""Drive the tiny example end to end through the real agent, as the control plane would.

    .venv/bin/python trainer/scripts/run_local.py [--store /tmp/df-store] [--keep]

Copies the data and base model into a file:// store (like prepareRun), starts
the agent, posts preflight -> sft -> merge -> dpo -> generate to
hosts/<host>/job.json, polls status.json, then scores the tool calls in
generations.jsonl against eval.jsonl. Prints wall time per stage and scores.
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
sys.path.insert(0, str(ROOT / "trainer"))

from durable_finetune.store import open_store  # noqa: E402
from durable_finetune.timeutil import now_iso  # noqa: E402

LORA = {"r": 32, "alpha": 64, "dropout": 0.0, "target_modules": "all-linear"}
PARAMS = {
    "preflight": {"ranks": 2, "timeout_s": 60, "min_free_disk_gb": 1},
    "sft": {"max_steps": 250, "batch_size": 32, "learning_rate": 3e-3, "save_steps": 100, "max_length": 128,
            "seed": 0, "lora": LORA, "dtype": "float32", "logging_steps": 1, "warmup_steps": 10,
            "lr_scheduler": "cosine"},
    "merge": {"dtype": "float32", "tolerance": 1e-3},
    "dpo": {"max_steps": 40, "batch_size": 16, "learning_rate": 5e-4, "save_steps": 20, "max_length": 128,
            "seed": 0, "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
            "dtype": "float32", "logging_steps": 1, "warmup_steps": 0, "lr_scheduler": "cosine",
            "beta": 0.1, "sft_loss_weight": 0.2},
    "generate": {"max_new_tokens": 48, "batch_size": 16},
}


def tool_call_match(output: str, expected: dict) -> bool:
    try:
        call = json.loads(output.strip())
    except (json.JSONDecodeError, ValueError):
        return False
    return isinstance(call, dict) and call.get("name") == expected["name"] and call.get("arguments") == expected["arguments"]


def score(generations: list[dict], eval_rows: list[dict]) -> dict[str, float]:
    expected = {r["id"]: r["expected_call"] for r in eval_rows}
    by_model: dict[str, list[bool]] = {}
    for g in generations:
        by_model.setdefault(g["model"], []).append(tool_call_match(g["output"], expected[g["item_id"]]))
    return {m: sum(v) / len(v) for m, v in by_model.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="store folder (default: a new temp folder)")
    ap.add_argument("--run", default="local-1")
    ap.add_argument("--stages", default="preflight,sft,merge,dpo,generate")
    ap.add_argument("--timeout-s", type=float, default=900)
    a = ap.parse_args()
    root = Path(a.store or tempfile.mkdtemp(prefix="df-store-")).resolve()
    store = open_store(root.as_uri())
    run, host = a.run, f"{a.run}-h1"
    base = f"runs/{run}"
    for name in ("sft", "preferences", "eval"):
        store.put_file(f"{base}/data/{name}.jsonl", ROOT / f"examples/tiny/data/{name}.jsonl")
    store.upload_dir(ROOT / "examples/tiny/model", f"{base}/inputs/base-model")

    workdir = root.parent / f"{root.name}-agent"
    agent = subprocess.Popen([sys.executable, "-m", "durable_finetune.agent", "--store", store.uri, "--run", run,
                              "--host", host, "--workdir", str(workdir), "--poll-s", "0.5", "--heartbeat-s", "2"],
                             env={**os.environ, "PYTHONPATH": str(ROOT / "trainer")})
    times: dict[str, float] = {}
    outputs: dict[str, dict] = {}
    try:
        for stage in a.stages.split(","):
            inputs: dict = {}
            params = dict(PARAMS[stage])
            if stage == "sft":
                inputs = {"base_model": f"{base}/inputs/base-model", "sft_data": f"{base}/data/sft.jsonl"}
            elif stage == "merge":
                inputs = {"base_model": f"{base}/inputs/base-model", "adapter": outputs["sft"]["key"],
                          "adapter_fingerprint": outputs["sft"]["fingerprint"]}
            elif stage == "dpo":
                inputs = {"model": outputs["merge"]["key"], "model_fingerprint": outputs["merge"]["fingerprint"],
                          "preference_data": f"{base}/data/preferences.jsonl"}
            elif stage == "generate":
                inputs = {"eval_data": f"{base}/data/eval.jsonl"}
                params["models"] = {"base": f"{base}/inputs/base-model"}
                if "merge" in outputs:
                    params["models"]["sft"] = outputs["merge"]["key"]
                if "dpo" in outputs:
                    params["models"]["dpo"] = outputs["dpo"]["key"]
            job = {"job_id": f"{stage}-1", "run_id": run, "host_id": host, "stage": stage, "resume": False,
                   "created_at": now_iso(), "inputs": inputs, "params": params}
            t0 = time.monotonic()
            store.put_json(f"{base}/hosts/{host}/job.json", job)
            while True:
                st = store.get_json(f"{base}/stages/{stage}/status.json")
                if st and st.get("job_id") == job["job_id"]:
                    break
                if agent.poll() is not None:
                    raise SystemExit("agent died")
                if time.monotonic() - t0 > a.timeout_s:
                    raise SystemExit(f"{stage} timed out")
                time.sleep(0.5)
            times[stage] = time.monotonic() - t0
            print(f"== {stage}: {st['state']} in {times[stage]:.1f}s {st.get('failure_class') or ''} "
                  f"{st.get('message', '')[:300]}", flush=True)
            if st["state"] != "succeeded":
                print("\n".join(st.get("log_tail") or []))
                raise SystemExit(1)
            outputs[stage] = st["output"]
            if stage == "dpo":
                print("   dpo metrics:", {k: round(v, 3) for k, v in st["metrics"].items() if isinstance(v, float)})
        if "generate" in outputs:
            gens = [json.loads(x) for x in store.get_bytes(outputs["generate"]["key"]).decode().splitlines()]
            evals = [json.loads(x) for x in (ROOT / "examples/tiny/data/eval.jsonl").read_text().splitlines()]
            scores = score(gens, evals)
            print("== tool-call exact match:", {m: f"{100 * s:.1f}%" for m, s in scores.items()})
        print("== stage wall times (s):", {k: round(v, 1) for k, v in times.items()})
        print("store:", root)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=40)


if __name__ == "__main__":
    main()
