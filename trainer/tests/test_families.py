"""The stages on tiny random models of the real families users pick.

Each model is built from the family's transformers config class with its real
chat template and special tokens (tiny_model.py --family). The real sft,
merge, dpo and generate stage code runs on it against a file store, in this
process (one import of torch and trl for the whole file; the agent and its
subprocesses are covered by test_agent.py and the integration tests):

- LoRA lands on every projection of every decoder layer of that architecture;
- the merged model loads with plain transformers, has no `lora_` keys, keeps an
  untied lm_head as its own tensor, and computes the adapter model's logits;
- SFT and DPO rows may offer tools, rendered as in generation;
- DPO trains on the merged model; generate renders each eval item with its
  own tools through the family's template, reports tokens/s and progress;
- an architecture the trainer does not know fails as `bad_model`, naming the
  supported ones, with no traceback.
"""

import json
import sys
from pathlib import Path

import pytest
import torch
from durable_finetune import families as fam
from durable_finetune import generation
from durable_finetune.params import stage_params
from durable_finetune.prompts import prompt_text
from durable_finetune.runtime import StageContext, StageFailure
from durable_finetune.stage_main import run_stage
from durable_finetune.stages import dpo, generate, merge, sft
from durable_finetune.tiny_model import write_family_model
from stage_params import job_params

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples/tiny/data"
TRAIN = dict(
    max_steps=2,
    batch_size=4,
    learning_rate=1e-3,
    save_steps=2,
    max_length=320,
    seed=0,
    lora={"r": 4, "alpha": 8},
    logging_steps=1,
    noop_check_steps=2,
)
DPO = job_params("dpo", **TRAIN, beta=0.25, sft_loss_weight=0.2, probe_every=0)
TRAIN = job_params("sft", **TRAIN)
PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
# (family, untied lm_head, what the template writes around the tools in the prompt)
CASES = [
    ("llama", True, "Given the following functions"),
    ("qwen2", False, "<tools>"),
    ("qwen3", True, "<tools>"),
    ("gemma3_text", False, "You have access to the following functions"),
    ("mistral", True, "[AVAILABLE_TOOLS]"),
]


def lines(path: Path, n: int) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()[:n]]


def eval_items() -> list[dict]:
    """Five eval items; the second and fourth offer fewer tools than the others, so a batch mixes tool sets."""
    items = lines(DATA / "eval.jsonl", 5)
    for it in items[1::2]:
        it["tools"] = [t for t in it["tools"] if t["name"] == it["expected_call"]["name"]]
    return items


def with_tools(rows: list[dict], tools: list[dict]) -> list[dict]:
    """Half the training rows offer tools, rendered by the template as in generation."""
    return [{**r, "tools": tools} if n % 2 else r for n, r in enumerate(rows)]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"file://{path}"


def run(module, stage: str, store, workdir: Path, params: dict, inputs: dict) -> dict:
    job = {"job_id": f"{stage}-1", "stage": stage, "run_id": "r1", "resume": False, "params": params, "inputs": inputs}
    module.main(StageContext(job, store, workdir), stage_params(stage, params))
    status = store.get_json(f"runs/r1/stages/{stage}/status.json")
    assert status["state"] == "succeeded", status
    return status


def safetensors_keys(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in folder.glob("*.safetensors"):
        out.update(load_file(f))
    return out


@pytest.mark.parametrize("family,untied,tool_marker", CASES, ids=[c[0] for c in CASES])
def test_sft_merge_dpo_generate_on_a_tiny_model_of_each_family(family, untied, tool_marker, store, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = write_family_model(family, DATA, tmp_path / "base")
    work = tmp_path / "work"
    items = eval_items()
    sft_data = write_jsonl(tmp_path / "sft.jsonl", with_tools(lines(DATA / "sft.jsonl", 8), items[1]["tools"]))
    prefs = write_jsonl(tmp_path / "prefs.jsonl", with_tools(lines(DATA / "preferences.jsonl", 8), items[1]["tools"]))
    evals = write_jsonl(tmp_path / "eval.jsonl", items)

    s = run(sft, "sft", store, work, TRAIN, {"base_model": str(base), "sft_data": sft_data})
    assert s["metrics"]["family"] == family and set(s["metrics"]["lora_targets"]) == PROJECTIONS
    assert s["metrics"]["lora_modules"] == 2 * len(PROJECTIONS) and s["metrics"]["tied_embeddings"] != untied
    adapter = work / "stages/sft/sft-1/adapter"
    keys = safetensors_keys(adapter)
    for layer in (0, 1):
        for proj in PROJECTIONS:
            assert any(f"layers.{layer}." in k and f".{proj}.lora_A" in k for k in keys), (layer, proj)
            assert any(f"layers.{layer}." in k and f".{proj}.lora_B" in k for k in keys), (layer, proj)
    assert not any("lm_head" in k or "embed_tokens" in k for k in keys)

    m = run(
        merge,
        "merge",
        store,
        work,
        job_params("merge", tolerance=1e-4),
        {"base_model": str(base), "adapter": s["output"]["key"], "adapter_fingerprint": s["output"]["fingerprint"]},
    )
    merged_dir = tmp_path / "merged"
    store.download_dir(m["output"]["key"], merged_dir)
    weights = safetensors_keys(merged_dir)
    assert not [k for k in weights if "lora_" in k]
    assert ("lm_head.weight" in weights) == untied
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()  # plain transformers, no peft
    assert fam.family_of(merged.config).name == family and fam.embeddings_tied(merged.config) != untied
    if untied:  # its own tensor, untouched by LoRA: the base's lm_head
        base_head = safetensors_keys(base)["lm_head.weight"]
        assert torch.equal(weights["lm_head.weight"], base_head)
        assert not torch.equal(merged.lm_head.weight, merged.get_input_embeddings().weight)
    tok = AutoTokenizer.from_pretrained(merged_dir)
    ids = tok(
        prompt_text(tok, fam.family_of(merged.config), items[0]["messages"], items[0]["tools"]),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"]
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter)).eval()
    with torch.no_grad():
        diff = (merged(input_ids=ids).logits - with_adapter(input_ids=ids).logits).abs().max().item()
        moved = merged(input_ids=ids).logits - AutoModelForCausalLM.from_pretrained(base)(input_ids=ids).logits
    assert diff < 1e-4, f"merged logits differ from base + adapter by {diff}"
    assert moved.abs().max().item() > 0, "SFT changed nothing: the merge would be vacuous"

    d = run(
        dpo,
        "dpo",
        store,
        work,
        DPO,
        {"model": m["output"]["key"], "model_fingerprint": m["output"]["fingerprint"], "preference_data": prefs},
    )
    assert d["steps_done"] == DPO["max_steps"] and d["metrics"]["continuity"]["probe_checked"]

    seen: list[str] = []
    real_prompt_text = generation.prompt_text

    def spy(*args, **kwargs):
        seen.append(real_prompt_text(*args, **kwargs))
        return seen[-1]

    generation.prompt_text = spy
    try:
        models = {"base": str(base), "sft": m["output"]["key"], "dpo": d["output"]["key"]}
        g = run(
            generate,
            "generate",
            store,
            work,
            job_params("generate", max_new_tokens=6, batch_size=4, models=models),
            {"eval_data": evals},
        )
    finally:
        generation.prompt_text = real_prompt_text
    out = [json.loads(x) for x in store.get_bytes(g["output"]["key"]).decode().splitlines()]
    assert [(x["model"], x["item_id"]) for x in out] == [(n, it["id"]) for n in ("base", "sft", "dpo") for it in items]
    metrics = g["metrics"]
    assert metrics["dtype"] == "float32" and metrics["families"] == {"base": family, "sft": family, "dpo": family}
    assert all(
        metrics["tokens_per_s"][n] > 0 and 0 < metrics["new_tokens"][n] <= 6 * len(items)
        for n in ("base", "sft", "dpo")
    )
    prog = store.get_json("runs/r1/stages/generate/progress.json")
    assert prog["job_id"] == "generate-1" and prog["step"] == prog["total_steps"] == 3 * len(items)

    # Each item's prompt carries exactly its own tools, in the family's tool block.
    assert len(seen) == 3 * len(items)
    for it, text in zip(items, seen):
        assert tool_marker in text and it["messages"][-1]["content"] in text
        offered = {t["name"] for t in it["tools"]}
        for name in ("get_weather", "get_time", "get_population", "convert"):
            assert (f'"name": "{name}"' in text) == (name in offered), (it["id"], name)


def test_a_model_family_the_trainer_does_not_know_fails_as_bad_model(store, tmp_path, monkeypatch):
    from transformers import GPT2Config, GPT2LMHeadModel

    model_dir = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=300)).save_pretrained(model_dir)
    job = {
        "job_id": "sft-1",
        "stage": "sft",
        "run_id": "r1",
        "params": TRAIN,
        "inputs": {"base_model": str(model_dir), "sft_data": f"file://{DATA / 'sft.jsonl'}"},
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    monkeypatch.setattr(
        sys,
        "argv",
        ["sft", "--job", str(tmp_path / "job.json"), "--store", store.uri, "--workdir", str(tmp_path / "work")],
    )
    with pytest.raises(SystemExit):
        run_stage(sft.main)  # the stage's real entry point: status written, exit 1
    st = store.get_json("runs/r1/stages/sft/status.json")
    assert st["state"] == "failed" and st["failure_class"] == "bad_model", st
    assert st["message"].startswith(
        "model_type 'gpt2' is not supported; supported: gemma3_text, llama, mistral, qwen2, qwen3"
    ), st["message"]
    assert st["log_tail"] == []  # a diagnosis, not a traceback


def test_lora_targets_the_model_does_not_have_fail_as_bad_model_naming_its_modules(tmp_path):
    from transformers import AutoModelForCausalLM

    base = write_family_model("qwen3", DATA, tmp_path / "base")
    family = fam.model_family(str(base))
    targets = fam.lora_targets(["q_proj", "c_attn"], family)
    with pytest.raises(StageFailure) as e:
        fam.check_targets(AutoModelForCausalLM.from_pretrained(base), targets, family)
    assert e.value.failure_class == "bad_model"
    assert "['c_attn']" in str(e.value) and "q_proj" in str(e.value) and "down_proj" in str(e.value)


def test_an_eval_item_the_chat_template_refuses_is_bad_data_naming_the_item(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = write_family_model("gemma3_text", DATA, tmp_path / "base")
    item = {"id": "eval-x", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    with pytest.raises(StageFailure) as e:
        generation.generate_all(
            AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base), [item], 4, 1
        )
    assert e.value.failure_class == "bad_data"
    assert "eval item 'eval-x'" in str(e.value) and "must alternate" in str(e.value)
