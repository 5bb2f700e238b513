"""The GPU check's model and data: Qwen2.5-0.5B's real shape with random weights, built offline.

The config is Qwen2.5-0.5B-Instruct's (hidden 896, 24 layers, 14 query and 2
key/value heads of 64, MLP 4864, vocabulary 151936, tied embeddings, rope
theta 1e6): the same weight shapes, FLOPs per token and memory as the real
model. The weights are random and the tokenizer is the Qwen2.5 family
tokenizer of durable_finetune.tiny_model (the real chat template, a small BPE
vocabulary trained on the example data; the model's larger vocabulary only
means ids the tokenizer never produces). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

QWEN2_5_0_5B = dict(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    hidden_act="silu",
    initializer_range=0.02,
)
FAMILY = "qwen2"
TOKENIZER_VOCAB = 1000
# SFT rows for the check: this many question/answer turns of the example data in one conversation,
# so a row is several hundred tokens long, as real SFT data is, rather than one short exchange.
TURNS_PER_ROW = 16


def matmul_parameters(dims: dict) -> int:
    """Weights every token multiplies by: attention and MLP projections of each layer, plus the
    LM head (the embedding lookup is no matmul; tied or not, the head is one)."""
    d, inter, layers = dims["hidden_size"], dims["intermediate_size"], dims["num_hidden_layers"]
    kv = dims["num_key_value_heads"] * (d // dims["num_attention_heads"])
    return layers * (2 * d * d + 2 * d * kv + 3 * d * inter) + dims["vocab_size"] * d


def write_model(out: Path, data_dir: Path, device: str) -> dict:
    """Build the model on `device` (seconds on a GPU), save it in bf16 to `out`; returns its facts."""
    import torch
    from durable_finetune.tiny_model import FAMILY_MODELS, _texts, _tool_texts, build_family_tokenizer
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_family_tokenizer(FAMILY, _texts(data_dir) + _tool_texts(data_dir), TOKENIZER_VOCAB)
    config = Qwen2Config(
        **QWEN2_5_0_5B, bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    model = model.to(torch.bfloat16)
    stop = [tokenizer.convert_tokens_to_ids(t) for t in FAMILY_MODELS[FAMILY]["stop"]]
    model.generation_config = GenerationConfig(eos_token_id=stop, pad_token_id=tokenizer.pad_token_id)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    facts = {
        "family": FAMILY,
        "shape_of": "Qwen/Qwen2.5-0.5B-Instruct",
        "weights": "random",
        "dtype": "bfloat16",
        "parameters": sum(p.numel() for p in model.parameters()),
        "matmul_parameters": matmul_parameters(QWEN2_5_0_5B),
        "dims": QWEN2_5_0_5B,
        "tokenizer_vocab": len(tokenizer),
    }
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return facts


def write_sft_rows(src: Path, dest: Path) -> int:
    """Long multi-turn SFT rows from the example's single-turn ones; returns the row count."""
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    out = []
    for i in range(len(rows)):
        turns = [rows[(i + k) % len(rows)]["messages"] for k in range(TURNS_PER_ROW)]
        msgs = [turns[0][0]] + [m for t in turns for m in t if m["role"] != "system"]
        out.append({"messages": msgs})
    dest.write_text("".join(json.dumps(r) + "\n" for r in out))
    return len(out)


def mean_row_tokens(model_dir: Path, rows_file: Path, max_length: int, sample: int = 64) -> float:
    """Mean tokens of a row as the chat template renders it, cut at max_length (what a step trains on)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()[:sample]]
    lengths = [
        min(max_length, len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]))
        for r in rows
    ]
    return sum(lengths) / len(lengths)
