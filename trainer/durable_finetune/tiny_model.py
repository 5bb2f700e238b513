"""Build the tiny offline base model the example and the integration tests use.

    python -m durable_finetune.tiny_model --data examples/tiny/data --out examples/tiny/model

A byte-level BPE tokenizer trained on the example texts plus a randomly
initialised small Llama. Nothing is downloaded; the same seed gives the same
weights, so fingerprints of the shipped model are stable.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=SPECIAL[3:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, hidden: int, layers: int, seed: int, init_std: float):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=256, tie_word_embeddings=True,
        # Larger than the usual 0.02: with tied embeddings and a frozen final
        # norm, 0.02 caps the logits near 5, so a LoRA-only fine-tune cannot
        # make confident predictions (loss plateaus near 1.7).
        initializer_range=init_std,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="folder with the example *.jsonl files")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-std", type=float, default=0.08)
    args = ap.parse_args(argv)

    tokenizer = build_tokenizer(_texts(Path(args.data)), args.vocab_size)
    model = build_model(tokenizer, args.hidden, args.layers, args.seed, args.init_std)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"tiny model: {n} parameters, vocab {len(tokenizer)} -> {out}")


if __name__ == "__main__":
    main()
