"""Greedy generation as every model gets it: the generate stage's outputs and the DPO collapse
guard's task probe (dpo_guard.py) come from the same code, so that a probe scores exactly what
the eval will see. Each item is rendered by its model's chat template with the item's own
`tools` (prompts.py), in batches, pad on the left, new tokens only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .families import family_of
from .prompts import prompt_text
from .runtime import StageFailure


def generate_all(
    model,
    tokenizer,
    items: list[dict],
    max_new_tokens: int,
    batch_size: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Greedy outputs of `items` (each with messages and optional tools), in order.
    on_batch(items, new_tokens) after each batch."""
    family = family_of(model.config)
    tokenizer.padding_side = "left"  # decoder-only: pad on the left so new tokens follow the prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stop = model.generation_config.eos_token_id
    stop = set(stop if isinstance(stop, list) else [stop] if stop is not None else [tokenizer.eos_token_id])
    outs: list[str] = []
    for i in range(0, len(items), batch_size):
        batch = items[i : i + batch_size]
        # One text per item: items in a batch may carry different tools, and `tools=` is per call.
        texts = [item_prompt(tokenizer, family, it) for it in batch]
        # The template wrote the special tokens (bos included): the tokenizer must not add them again.
        enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt").to(model.device)
        with torch.no_grad():
            gen = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        new = gen[:, enc["input_ids"].shape[1] :]  # only the new tokens
        # A random model can emit a partial UTF-8 byte sequence; replace it so every reader can parse the line.
        outs.extend(
            t.encode("utf-8", "replace").decode("utf-8") for t in tokenizer.batch_decode(new, skip_special_tokens=True)
        )
        if on_batch:
            on_batch(len(batch), sum(generated_length(row, stop) for row in new.tolist()))
    return outs


def item_prompt(tokenizer, family, item: dict) -> str:
    """The item's prompt; a conversation the model's template refuses (Gemma and Mistral insist that
    user and assistant turns alternate) is bad data, named by the item's id."""
    from jinja2 import TemplateError

    try:
        return prompt_text(tokenizer, family, item["messages"], item.get("tools"))
    except TemplateError as e:
        raise StageFailure(
            "bad_data", f"eval item {item.get('id')!r}: the {family.name} chat template refuses its messages: {e}"
        ) from None


def generated_length(row: list[int], stop: set[int]) -> int:
    """Tokens the model generated in one row: up to and including its first stop token (the rest is padding)."""
    return next((n + 1 for n, t in enumerate(row) if t in stop), len(row))
