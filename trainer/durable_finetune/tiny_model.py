"""Build the tiny offline base models the example and the tests use.

    python -m durable_finetune.tiny_model --data examples/tiny/data --out examples/tiny/model
    python -m durable_finetune.tiny_model --family qwen3 --out /tmp/qwen3-tiny

Without --family: the example's model, a byte-level BPE tokenizer trained on
the example texts plus a randomly initialised small Llama with a minimal chat
template. With --family: a tiny-width random model built from that family's
real transformers config class, with a tokenizer that carries the family's
real chat template (chat_templates.py) and special tokens, so the stages run
on it exactly as on the real model (prompts, tools, LoRA targets, merge).
Nothing is downloaded; the same seed gives the same weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from . import chat_templates

SPECIAL = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]

# Role tags are special tokens and there is no whitespace between a tag and the
# content, so the prompt rendered with add_generation_prompt is an exact token
# prefix of prompt + completion (trl checks this for completion-only loss).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}{{ message['content'] }}{{ eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def _texts(data_dir: Path) -> list[str]:
    """Every message text in the example data files."""
    texts: list[str] = []
    for path in sorted(data_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            for key in ("messages", "prompt", "chosen", "rejected"):
                for m in row.get(key) or []:
                    texts.append(m["content"])
    return texts


def build_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, hidden: int, layers: int, seed: int, init_std: float):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        # Larger than the usual 0.02: with tied embeddings and a frozen final
        # norm, 0.02 caps the logits near 5, so a LoRA-only fine-tune cannot
        # make confident predictions (loss plateaus near 1.7).
        initializer_range=init_std,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


# Per family: config class, whether embeddings are tied (as in the checkpoint the tiny one
# stands for), chat template, special tokens (bos, eos, pad, others), the tokens that end a
# turn in generation, and the family's plain added tokens (Qwen's <tool_call> is not special:
# it survives skip_special_tokens). Llama 3.1 8B, Qwen2.5 3B, Qwen3 8B, Gemma 3, Mistral Nemo.
FAMILY_MODELS: dict[str, dict[str, Any]] = {
    "llama": dict(
        config="LlamaConfig",
        tied=False,
        template="LLAMA3",
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|finetune_right_pad_id|>",
        special=["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|python_tag|>"],
        stop=["<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"],
    ),
    "qwen2": dict(
        config="Qwen2Config",
        tied=True,
        template="QWEN2_5",
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        special=["<|im_start|>"],
        plain=["<tool_call>", "</tool_call>"],
        stop=["<|im_end|>", "<|endoftext|>"],
    ),
    "qwen3": dict(
        config="Qwen3Config",
        tied=False,
        template="QWEN3",
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        special=["<|im_start|>"],
        plain=["<tool_call>", "</tool_call>", "<think>", "</think>", "<tool_response>", "</tool_response>"],
        stop=["<|im_end|>", "<|endoftext|>"],
    ),
    "gemma3_text": dict(
        config="Gemma3TextConfig",
        tied=True,
        template="GEMMA3",
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        special=["<start_of_turn>", "<end_of_turn>"],
        stop=["<eos>", "<end_of_turn>"],
    ),
    "mistral": dict(
        config="MistralConfig",
        tied=False,
        template="MISTRAL",
        bos="<s>",
        eos="</s>",
        pad="<pad>",
        special=[
            "[INST]",
            "[/INST]",
            "[AVAILABLE_TOOLS]",
            "[/AVAILABLE_TOOLS]",
            "[TOOL_CALLS]",
            "[TOOL_RESULTS]",
            "[/TOOL_RESULTS]",
        ],
        stop=["</s>"],
    ),
}


def build_family_tokenizer(family: str, texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = FAMILY_MODELS[family]
    template = getattr(chat_templates, spec["template"])
    special = [t for t in (spec["bos"], spec["eos"], spec["pad"]) if t] + spec["special"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The template's own text too, so its boilerplate ("Cutting Knowledge Date", "# Tools") gets merges.
    tok.train_from_iterator(texts + [template], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec["bos"],
        eos_token=spec["eos"],
        pad_token=spec["pad"],
        additional_special_tokens=spec["special"],
    )
    if spec.get("plain"):
        fast.add_tokens(spec["plain"])
    fast.chat_template = template
    return fast


def build_family_model(family: str, tokenizer, hidden: int, layers: int, seed: int):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, GenerationConfig

    spec = FAMILY_MODELS[family]
    torch.manual_seed(seed)
    heads = 4
    config = getattr(transformers, spec["config"])(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        head_dim=hidden // heads,
        max_position_embeddings=2048,
        tie_word_embeddings=spec["tied"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = AutoModelForCausalLM.from_config(config)
    stop = [tokenizer.convert_tokens_to_ids(t) for t in spec["stop"]]
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=stop, pad_token_id=tokenizer.pad_token_id
    )
    return model


def _tool_texts(data_dir: Path) -> list[str]:
    """The eval items' tool schemas as JSON, as the templates render them."""
    texts = []
    for path in sorted(data_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            texts += [json.dumps(t) for t in json.loads(line).get("tools") or []]
    return texts


def write_family_model(
    family: str, data_dir: Path, out: Path, vocab_size: int = 1000, hidden: int = 64, layers: int = 2, seed: int = 0
) -> Path:
    """A tiny random model of `family` with its real chat template, saved to `out`."""
    tokenizer = build_family_tokenizer(family, _texts(data_dir) + _tool_texts(data_dir), vocab_size)
    model = build_family_model(family, tokenizer, hidden, layers, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parents[2] / "examples/tiny/data"),
        help="folder with the example *.jsonl files (default: the repository's examples/tiny/data)",
    )
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--family",
        choices=sorted(FAMILY_MODELS),
        help="a tiny model of this family with its real chat template (default: the example's model)",
    )
    ap.add_argument("--vocab-size", type=int, help="default 600, or 1000 with --family")
    ap.add_argument("--hidden", type=int, help="default 256, or 64 with --family")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-std", type=float, default=0.08, help="the example's model only")
    args = ap.parse_args(argv)

    out = Path(args.out)
    if args.family:
        write_family_model(
            args.family, Path(args.data), out, args.vocab_size or 1000, args.hidden or 64, args.layers, args.seed
        )
        print(f"tiny {args.family} model -> {out}")
        return
    tokenizer = build_tokenizer(_texts(Path(args.data)), args.vocab_size or 600)
    model = build_model(tokenizer, args.hidden or 256, args.layers, args.seed, args.init_std)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"tiny model: {n} parameters, vocab {len(tokenizer)} -> {out}")


if __name__ == "__main__":
    main()
